"""Audit rules: records are appended inside the transaction of the change they describe, and
never changed afterwards (this module offers no update or delete, and neither does the API)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from hub.audit import repository
from hub.audit.chain import (
    GENESIS_HASH,
    ChainRecord,
    canonical_json,
    check_chain,
    record_hash,
)
from hub.audit.schemas import AuditEntry, AuditFilters, AuditRecord, VerifyReply
from hub.auth.scope import Scope
from hub.paging import Page, decode_cursor, encode_cursor
from hub.storage import Connection, Database

__all__ = ["AuditEntry", "list_records", "record", "verify", "verify_connection"]


def record(conn: Connection, entries: Sequence[AuditEntry], now: datetime) -> list[ChainRecord]:
    """Chain ``entries`` onto the log; call inside the write transaction of the change itself,
    so the change and its record commit (or roll back) together."""
    if not entries:
        return []
    # Chain onto the head the hub wrote last, not onto whatever row is last now: records cut off
    # the end then stay visible as a gap. Numbering past any row in the table means a tampered
    # file still takes new records (verify reports the damage; audited changes keep working).
    head = repository.head(conn)
    prev_hash = head[1] if head else GENESIS_HASH
    seq = max(head[0] if head else 0, repository.last_seq(conn))
    rows: list[ChainRecord] = []
    texts: list[tuple[str, str, str]] = []
    for entry in entries:
        seq += 1
        # Canonical text round-trips through json.loads to the same value, so the hash computed
        # now is the hash verify recomputes from the stored text.
        texts.append(
            (canonical_json(entry.before), canonical_json(entry.after), canonical_json(entry.data))
        )
        draft = ChainRecord(
            seq=seq,
            at=now,
            actor=entry.actor,
            action=entry.action,
            object_type=entry.object_type,
            object_id=entry.object_id,
            site=entry.site,
            area=entry.area,
            before=entry.before,
            after=entry.after,
            reason=entry.reason,
            data=entry.data,
            prev_hash=prev_hash,
            hash="",
        )
        digest = record_hash(draft)
        rows.append(replace(draft, hash=digest))
        prev_hash = digest
    repository.append(conn, rows, texts)
    return rows


def verify_connection(conn: Connection, anchors: Mapping[int, str] | None = None) -> VerifyReply:
    """Check the whole chain on ``conn`` (a reader cursor, or an offline connection), and that
    each anchored record still carries the hash written down for it."""
    result = check_chain(repository.iter_all(conn), repository.head(conn), anchors)
    return VerifyReply(
        ok=result.ok,
        records=result.records,
        first_bad=result.first_bad,
        reason=result.reason,
        head=result.head,
    )


async def verify(db: Database, anchors: Mapping[int, str] | None = None) -> VerifyReply:
    return await db.read(lambda cur: verify_connection(cur, anchors))


async def list_records(
    db: Database, scope: Scope, filters: AuditFilters, after: str | None, limit: int
) -> Page[AuditRecord]:
    key: int | None = None
    if after is not None:
        (last_seq,) = decode_cursor(after, (int,))
        assert isinstance(last_seq, int)
        key = last_seq
    scope_sql, scope_params = scope.sql()
    rows = await db.read(
        lambda cur: repository.list_records(cur, filters, scope_sql, scope_params, key, limit + 1)
    )
    items = rows[:limit]
    next_cursor = encode_cursor([items[-1].seq]) if len(rows) > limit else None
    return Page[AuditRecord](items=items, next=next_cursor)
