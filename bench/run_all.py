"""Run every ``bench_*.py`` script in this folder one after another (what ``make bench`` does).

Each script runs in its own process so one's servers and memory never skew the next; the
exit code is non-zero if any script failed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    failed: list[str] = []
    for script in sorted(Path(__file__).parent.glob("bench_*.py")):
        print(f"\n== {script.name} ==", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
