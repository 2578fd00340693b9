"""``floorgate audit verify``: check the hub's audit chain offline, straight from the file."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import duckdb

from hub.audit.chain import parse_anchor
from hub.audit.service import verify_connection


def verify_command(db_path: Path, anchors: Sequence[str] = ()) -> int:
    """Print the result of verifying the audit chain in ``db_path``; 0 if intact, 1 otherwise.

    The file is opened read-only (nothing is migrated or written), which DuckDB refuses while a
    hub holds it: use ``GET /api/v1/audit/verify`` against a running hub instead.

    Args:
        anchors: ``SEQ:HASH`` texts printed by an earlier verify and kept outside the hub.
    """
    try:
        anchored = dict(parse_anchor(text) for text in anchors)
    except ValueError as exc:
        print(f"audit verify: {exc}", file=sys.stderr)
        return 2
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
        result = verify_connection(conn, anchored)
    except duckdb.Error as exc:
        print(f"audit verify: cannot read the audit log in {db_path}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    if result.ok:
        print(f"audit chain intact: {result.records} records, head {result.head or '-'}")
        if result.head:
            print(f"anchor (keep it outside the hub): {result.records}:{result.head}")
        return 0
    print(
        f"audit chain BROKEN at record {result.first_bad}: {result.reason} "
        f"({result.records} records before it are intact)"
    )
    return 1
