"""schemathesis against the hub's own /openapi.json, through a real uvicorn on loopback: no
request it generates gets a 5xx, and every status code the hub answers is documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.hub.conftest import RunningHub

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def test_no_server_error_and_every_status_documented(
    hub: RunningHub, user_token: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{hub.url}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance",
            "--header",
            f"Authorization: Bearer {user_token}",
            "--max-examples",
            "10",
            "--workers",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            # Live streams (SSE) never end: each fuzzed request would wait out the timeout. Their
            # auth and scope are covered in test_streams and test_constraints. Logout would end
            # the one session every later request uses (it is covered in test_auth).
            "--exclude-path-regex",
            "/stream$|/auth/logout$",
            # Generous: a password or PIN check is a deliberate scrypt, and CI shares 2 cores.
            "--request-timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
