"""``floorgate audit verify``: check the hub's audit chain offline, straight from the file."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from hub.audit.service import verify_connection


def verify_command(db_path: Path) -> int:
    """Print the result of verifying the audit chain in ``db_path``; 0 if intact, 1 otherwise.

    The file is opened read-only (nothing is migrated or written), which DuckDB refuses while a
    hub holds it: use ``GET /api/v1/audit/verify`` against a running hub instead.
    """
    if not db_path.is_file():
        print(f"audit verify: no database at {db_path}", file=sys.stderr)
        return 1
    try:
        conn = duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error as exc:
        print(f"audit verify: cannot open {db_path}: {exc}", file=sys.stderr)
        return 1
    try:
        # Timestamps are hashed in UTC; read them in UTC whatever the host's zone.
        conn.execute("SET TimeZone = 'UTC'")
        result = verify_connection(conn)
    except duckdb.Error as exc:
        print(f"audit verify: cannot read the audit log in {db_path}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    if result.ok:
        print(f"audit chain intact: {result.records} records, head {result.head or '-'}")
        return 0
    print(
        f"audit chain BROKEN at record {result.first_bad}: {result.reason} "
        f"({result.records} records before it are intact)"
    )
    return 1
