"""Ingest rules: one agent per token, each event stored once, alarms and command results applied
in the same commit, the reply only once the events are durable, and the agent's pending commands
handed back on it."""

from __future__ import annotations

import asyncio
from datetime import datetime

from hub.auth.scope import Scope
from hub.commands import service as commands
from hub.ingest import repository
from hub.ingest.prepare import prepare
from hub.ingest.schemas import EventFilters, StoredEvent
from hub.ingest.writer import IngestWriter, Stored
from hub.paging import Page, decode_cursor, encode_cursor
from hub.storage import Connection, Database
from hub.streams.bus import AlarmBus
from protocols.wire import IngestReply


async def ingest(
    writer: IngestWriter, db: Database, bus: AlarmBus, agent_id: str, body: bytes, now: datetime
) -> IngestReply:
    """Store the valid events of one batch from ``agent_id``; return after the commit.

    Idempotent by event_id: an event already stored, or repeated in the batch, is listed under
    ``duplicates`` and stored once. Malformed events are listed under ``rejected``.

    Raises:
        Unprocessable: the body or its envelope is malformed (nothing is stored).
        Forbidden: the batch claims another agent than the token's.
    """
    # Validating up to 10,000 events is CPU work: keep it off the event loop.
    batch = await asyncio.to_thread(prepare, body, agent_id, now)
    if batch.unique:
        stored = await writer.store(batch)
        bus.publish(stored.alarm_changes)
    else:
        pending = await db.read(lambda cur: commands.pending_for(cur, agent_id))
        stored = Stored(frozenset(), pending)

    accepted: list[str] = []
    duplicates: list[str] = []
    first = iter(batch.unique)
    next_first = next(first, None)
    for event in batch.parsed.events:
        # ``unique`` keeps the batch's order, so its members come up here one by one.
        if event is next_first:
            next_first = next(first, None)
            if event.seq not in stored.duplicate_seqs:
                accepted.append(event.event_id)
                continue
        duplicates.append(event.event_id)
    return IngestReply.model_construct(
        accepted=accepted,
        duplicates=duplicates,
        rejected=batch.parsed.rejected,
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
