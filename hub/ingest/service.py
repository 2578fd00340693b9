"""Ingest rules: one agent per token, each event stored once, alarms and command results applied
in the same commit, and the agent's pending commands handed back on the reply."""

from __future__ import annotations

import asyncio
from datetime import datetime

from hub.alarms import service as alarms
from hub.auth.scope import Scope
from hub.commands import service as commands
from hub.errors import Forbidden
from hub.ingest import repository
from hub.ingest.parse import parse_batch
from hub.ingest.schemas import EventFilters, StoredEvent
from hub.paging import Page, decode_cursor, encode_cursor
from hub.storage import Connection, Database
from hub.streams.bus import AlarmBus
from hub.values import service as values
from protocols.wire import Command, Event, IngestReply


async def ingest(
    db: Database, bus: AlarmBus, agent_id: str, body: bytes, now: datetime
) -> IngestReply:
    """Store the valid events of one batch from ``agent_id``; return after the commit.

    Idempotent by event_id: an event already stored, or repeated in the batch, is listed under
    ``duplicates`` and stored once. Malformed events are listed under ``rejected``.

    Raises:
        Unprocessable: the body or its envelope is malformed (nothing is stored).
        Forbidden: the batch claims another agent than the token's.
    """
    # Validating up to 10,000 events is CPU work: keep it off the event loop.
    batch = await asyncio.to_thread(parse_batch, body)
    if batch.agent_id != agent_id:
        raise Forbidden(f"this token may only send events of agent {agent_id!r}")

    first: dict[str, Event] = {}
    for event in batch.events:
        first.setdefault(event.event_id, event)
    unique = list(first.values())

    def commit(conn: Connection) -> tuple[set[str], list[Command], alarms.Published]:
        inserted = repository.insert_new_events(conn, unique, now)
        new = [e for e in unique if e.event_id in inserted]
        values.apply_events(conn, new, now)
        changes = alarms.apply_events(conn, new, now)
        commands.apply_results(conn, agent_id, new, now)
        # Read after the results are applied: a command answered in this batch is not resent.
        return inserted, commands.pending_for(conn, agent_id), changes

    if unique:
        inserted, pending, changes = await db.write(commit)
        bus.publish(changes)
    else:
        inserted, pending = set(), await db.read(lambda cur: commands.pending_for(cur, agent_id))

    accepted: list[str] = []
    duplicates: list[str] = []
    for event in batch.events:
        if event.event_id in inserted and first.get(event.event_id) is event:
            accepted.append(event.event_id)
        else:
            duplicates.append(event.event_id)
    return IngestReply.model_construct(
        accepted=accepted, duplicates=duplicates, rejected=batch.rejected, commands=pending
    )


async def list_events(
    db: Database, filters: EventFilters, scope: Scope, after: str | None, limit: int
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

    # One row more than asked tells whether a next page exists.
    rows = await db.read(query)
    items = rows[:limit]
    next_cursor = encode_cursor([items[-1].agent_id, items[-1].seq]) if len(rows) > limit else None
    return Page[StoredEvent](items=items, next=next_cursor)
