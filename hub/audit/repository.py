"""SQL for the audit log: append (inside the caller's transaction), list, read for verify.

JSON fields are stored as the canonical text that was hashed (VARCHAR, not JSON), so reading
them back gives exactly the bytes the hash covers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from hub.audit.chain import ChainRecord
from hub.audit.schemas import AuditFilters, AuditRecord
from hub.storage import Connection

_COLUMNS = (
    "seq, recorded_at, actor, action, object_type, object_id, site, area, before, after, reason,"
    " data, prev_hash, hash"
)
_READ_CHUNK = 10_000


def head(conn: Connection) -> tuple[int, str] | None:
    """The (seq, hash) recorded beside the chain at the last append."""
    row = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    return (int(row[0]), str(row[1])) if row else None


def last_seq(conn: Connection) -> int:
    row = conn.execute("SELECT coalesce(max(seq), 0) FROM audit_log").fetchone()
    return int(row[0]) if row else 0


def append(
    conn: Connection, rows: Sequence[ChainRecord], texts: Sequence[tuple[str, str, str]]
) -> None:
    """Insert chained records (``texts``: the canonical before/after/data of each) and move the
    head to the last one."""
    conn.execute(
        f"INSERT INTO audit_log ({_COLUMNS})"
        " SELECT unnest($1::BIGINT[]), unnest($2::TIMESTAMPTZ[]), unnest($3::VARCHAR[]),"
        " unnest($4::VARCHAR[]), unnest($5::VARCHAR[]), unnest($6::VARCHAR[]),"
        " unnest($7::VARCHAR[]), unnest($8::VARCHAR[]), unnest($9::VARCHAR[]),"
        " unnest($10::VARCHAR[]), unnest($11::VARCHAR[]), unnest($12::VARCHAR[]),"
        " unnest($13::VARCHAR[]), unnest($14::VARCHAR[])",
        [
            [r.seq for r in rows],
            [r.at for r in rows],
            [r.actor for r in rows],
            [r.action for r in rows],
            [r.object_type for r in rows],
            [r.object_id for r in rows],
            [r.site for r in rows],
            [r.area for r in rows],
            [t[0] for t in texts],
            [t[1] for t in texts],
            [r.reason for r in rows],
            [t[2] for t in texts],
            [r.prev_hash for r in rows],
            [r.hash for r in rows],
        ],
    )
    last = rows[-1]
    conn.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        [last.seq, last.hash],
    )


def _record(row: tuple[Any, ...]) -> ChainRecord:
    return ChainRecord(
        seq=int(row[0]),
        at=row[1],
        actor=row[2],
        action=row[3],
        object_type=row[4],
        object_id=row[5],
        site=row[6],
        area=row[7],
        before=json.loads(row[8]),
        after=json.loads(row[9]),
        reason=row[10],
        data=json.loads(row[11]),
        prev_hash=row[12],
        hash=row[13],
    )


def iter_all(conn: Connection) -> Iterator[ChainRecord]:
    """Every record in seq order, fetched in chunks (the log grows without bound)."""
    result = conn.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq")
    while rows := result.fetchmany(_READ_CHUNK):
        for row in rows:
            yield _record(row)


def list_records(
    conn: Connection,
    filters: AuditFilters,
    scope_sql: str,
    scope_params: dict[str, Any],
    after: int | None,
    limit: int,
) -> list[AuditRecord]:
    where = [scope_sql]
    params: dict[str, Any] = {**scope_params, "limit": limit}
    for column in ("object_type", "object_id", "actor"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"{column} = ${column}")
            params[column] = value
    if filters.since is not None:
        where.append("recorded_at >= $since")
        params["since"] = filters.since
    if filters.until is not None:
        where.append("recorded_at < $until")
        params["until"] = filters.until
    if after is not None:
        where.append("seq > $after")
        params["after"] = after
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM audit_log WHERE {' AND '.join(where)} ORDER BY seq LIMIT $limit",
        params,
    ).fetchall()
    return [AuditRecord.model_validate(_record(row), from_attributes=True) for row in rows]
