"""Ingest rules: one agent per token, each event stored once, alarms and command results applied
in the same commit, the reply only once the events are durable, and the agent's pending commands
handed back on it."""

from __future__ import annotations

from datetime import datetime

from hub.auth.scope import Scope
from hub.ingest import repository
from hub.ingest.schemas import EventFilters, StoredEvent
from hub.ingest.workers import PreparePool
from hub.ingest.writer import IngestWriter, Stored
from hub.paging import Page, decode_cursor, encode_cursor
from hub.storage import Connection, Database
from hub.streams.bus import AlarmBus
from protocols.wire import IngestReply, event_id_for


async def ingest(
    workers: PreparePool,
    writer: IngestWriter,
    bus: AlarmBus,
    agent_id: str,
    body: bytes,
    now: datetime,
) -> IngestReply:
    """Store the valid events of one batch from ``agent_id``; return after the commit.

    Idempotent by event_id: an event already stored, or repeated in the batch, is listed under
    ``duplicates`` and stored once. Malformed events are listed under ``rejected``.

    Raises:
        Unprocessable: the body or its envelope is malformed (nothing is stored).
        Forbidden: the batch claims another agent than the token's.
    """
    batch = await workers.prepare(body, agent_id, now)
    if batch.unique:
        stored = await writer.store(batch)
        bus.publish(stored.alarm_changes)
    else:
        stored = Stored(frozenset(), await writer.pending_for(agent_id))

    accepted: list[str] = []
    duplicates: list[str] = []
    seen: set[int] = set()
    for seq in batch.seqs:
        event_id = event_id_for(agent_id, seq)
        if seq in seen or seq in stored.duplicate_seqs:
            duplicates.append(event_id)
        else:
            seen.add(seq)
            accepted.append(event_id)
    return IngestReply.model_construct(
        accepted=accepted,
        duplicates=duplicates,
        rejected=batch.rejected,
        commands=stored.commands,
    )


async def list_events(
    db: Database,
    writer: IngestWriter,
    filters: EventFilters,
    scope: Scope,
    after: str | None,
    limit: int,
) -> Page[StoredEvent]:
    key: tuple[str, int] | None = None
    if after is not None:
        after_agent, after_seq = decode_cursor(after, (str, int))
        assert isinstance(after_agent, str) and isinstance(after_seq, int)
        key = (after_agent, after_seq)

    def query(conn: Connection) -> list[StoredEvent]:
        return repository.list_events(
            conn, filters=filters, scope=scope, after=key, limit=limit + 1
        )

    await writer.settled()  # every acknowledged event is listed
    # One row more than asked tells whether a next page exists.
    rows = await db.read(query)
    items = rows[:limit]
    next_cursor = encode_cursor([items[-1].agent_id, items[-1].seq]) if len(rows) > limit else None
    return Page[StoredEvent](items=items, next=next_cursor)
