"""Live value rules: which events carry a value, which one is current, how old it is."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.auth.scope import Scope
from hub.location import Location, location_of
from hub.paging import Page, decode_cursor, encode_cursor
from hub.storage import Connection, Database
from hub.storage.event_json import Rows
from hub.values import repository
from hub.values.schemas import LiveValue, ValueFilters
from protocols.wire import Event, EventType, Quality

CARRIES_VALUE = frozenset({EventType.VALUE, EventType.ALARM_RAISED, EventType.ALARM_CLEARED})
"""Alarm events carry the value that crossed (or came back within) the limit."""


def newest(events: Sequence[Event]) -> list[Event]:
    """The newest value-carrying event per (agent, tag), by source time, then seq."""
    held: dict[tuple[str, str], Event] = {}
    for event in events:
        if event.tag is None or event.type not in CARRIES_VALUE:
            continue
        key = (event.agent_id, event.tag)
        other = held.get(key)
        if other is None or (event.source_time, event.seq) > (other.source_time, other.seq):
            held[key] = event
    return list(held.values())


def locations_of(events: Sequence[Event]) -> list[Location]:
    """``location_of`` each event, worked out once when all contexts are equal (the usual
    batch: every event of a gateway carries the same site, area and line)."""
    if events and all(event.context == events[0].context for event in events):
        return [location_of(events[0])] * len(events)
    return [location_of(event) for event in events]


def store_newest(conn: Connection, batches: Sequence[Rows]) -> None:
    """Update current values from newly stored events: those ``batches`` flag, the ones in
    ``newest(...)`` of the new events of each agent; runs inside the ingest transaction."""
    repository.upsert(conn, batches)


def store_newest_of(conn: Connection, table: str) -> None:
    """Update current values from the newly stored events in ``table`` (a staged journal
    segment, ``hub.ingest.repository.STAGED``); runs inside the loading transaction."""
    repository.upsert_newest_of(conn, table, sorted(kind.value for kind in CARRIES_VALUE))


async def list_values(
    db: Database,
    filters: ValueFilters,
    scope: Scope,
    now: datetime,
    after: str | None,
    limit: int,
) -> Page[LiveValue]:
    key: tuple[str, str] | None = None
    if after is not None:
        agent_id, tag = decode_cursor(after, (str, str))
        assert isinstance(agent_id, str) and isinstance(tag, str)
        key = (agent_id, tag)
    scope_sql, params = scope.sql()
    where = [scope_sql]
    for column in ("site", "area", "line", "agent_id"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"{column} = ${column}")
            params[column] = value
    if filters.tag is not None:
        where.append("tag GLOB $tag")
        params["tag"] = filters.tag

    def query(cur: Connection) -> list[Any]:
        return repository.list_values(
            cur, where_sql=where, params=params, after=key, limit=limit + 1
        )

    rows = await db.read(query)
    items = [
        LiveValue(
            agent_id=row[0],
            tag=row[1],
            value=json.loads(row[2]) if row[2] is not None else None,
            quality=Quality(row[3]),
            source_time=row[4],
            received_at=row[5],
            age_seconds=(now - row[4]).total_seconds(),
            seq=row[6],
            site=row[7],
            area=row[8],
            line=row[9],
        )
        for row in rows[:limit]
    ]
    next_cursor = encode_cursor([items[-1].agent_id, items[-1].tag]) if len(rows) > limit else None
    return Page[LiveValue](items=items, next=next_cursor)
