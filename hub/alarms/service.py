"""Alarm rules: how events become occurrences, and how occurrences are listed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hub.alarms import repository
from hub.alarms.repository import Clear, Raise
from hub.alarms.schemas import Alarm, AlarmFilters
from hub.paging import Page, decode_cursor, encode_cursor
from hub.storage import Connection, Database
from protocols.wire import Event, EventType

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def occurrence_of(event: Event) -> str | None:
    """The occurrence an alarm event belongs to, from ``context["occurrence"]``, if any."""
    occurrence = event.context.get("occurrence")
    return occurrence if isinstance(occurrence, str) and occurrence else None


def apply_events(conn: Connection, events: Sequence[Event], now: datetime) -> None:
    """Derive occurrences from newly stored events; runs inside the ingest transaction.

    ``alarm.raised`` opens an occurrence (id: its ``occurrence`` context, else its event_id);
    ``alarm.cleared`` returns the occurrence named in its context. Raises are applied before
    clears, so a batch holding both ends of an occurrence leaves it returned. The first event
    for an occurrence wins; later ones for the same occurrence change nothing.
    """
    raises: dict[str, Raise] = {}
    clears: dict[str, Clear] = {}
    for event in events:
        if event.type is EventType.ALARM_RAISED:
            occurrence = occurrence_of(event) or event.event_id
            raises.setdefault(
                occurrence,
                Raise(
                    id=occurrence,
                    agent_id=event.agent_id,
                    tag=event.tag,
                    rule=event.rule,
                    severity=event.severity,
                    category=event.category,
                    value=event.value,
                    raised_at=event.source_time,
                ),
            )
        elif event.type is EventType.ALARM_CLEARED:
            cleared = occurrence_of(event)
            # A clear that names no occurrence cannot be matched to one: kept as an event only.
            if cleared is not None:
                clears.setdefault(
                    cleared,
                    Clear(
                        id=cleared,
                        agent_id=event.agent_id,
                        value=event.value,
                        cleared_at=event.source_time,
                    ),
                )
    repository.insert_raised(conn, list(raises.values()), now)
    repository.mark_returned(conn, list(clears.values()), now)


async def list_alarms(
    db: Database, filters: AlarmFilters, after: str | None, limit: int
) -> Page[Alarm]:
    key: tuple[datetime, str] | None = None
    if after is not None:
        micros, occurrence = decode_cursor(after, (int, str))
        assert isinstance(micros, int) and isinstance(occurrence, str)
        key = (_EPOCH + timedelta(microseconds=micros), occurrence)
    # One row more than asked tells whether a next page exists.
    rows = await db.read(lambda cur: repository.list_alarms(cur, filters, key, limit + 1))
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        micros = (last.raised_at - _EPOCH) // timedelta(microseconds=1)
        next_cursor = encode_cursor([micros, last.id])
    return Page[Alarm](items=items, next=next_cursor)
