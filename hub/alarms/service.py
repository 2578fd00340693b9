"""Alarm rules: events become occurrences and transitions; people acknowledge, shelve, suppress
and take alarms out of service. Every transition is stored in the history and audited in the
same transaction as the change, here and nowhere else, so no endpoint can skip either."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hub.alarms import lifecycle, repository, sync
from hub.alarms.lifecycle import (
    Channel,
    Definition,
    LifecycleError,
    Occurrence,
    Transition,
)
from hub.alarms.schemas import Alarm, AlarmFilters, HistoryEntry
from hub.audit import service as audit
from hub.audit.schemas import SYSTEM_ACTOR, AuditEntry, agent_actor, panel_actor
from hub.auth.scope import Scope
from hub.commands import service as commands
from hub.errors import Conflict, NotFound, Unprocessable
from hub.location import location_of, text
from hub.paging import Page, decode_cursor, encode_cursor
from hub.storage import Connection, Database
from hub.streams.bus import AlarmBus
from protocols.wire import Event, EventType

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOTE_REQUIRED = frozenset({"high", "critical"})
_ALARM_EVENTS = (EventType.ALARM_RAISED, EventType.ALARM_CLEARED, EventType.ALARM_ACKED)


def occurrence_of(event: Event) -> str | None:
    """The occurrence an alarm event belongs to, from ``context["occurrence"]``, if any."""
    occurrence = event.context.get("occurrence")
    return occurrence if isinstance(occurrence, str) and occurrence else None


def rule_of(event: Event) -> str:
    """The alarm (definition) an event belongs to within its agent: its rule, else its tag."""
    return event.rule or event.tag or "unnamed"


def _record(
    conn: Connection,
    transitions: Sequence[Transition],
    now: datetime,
    records: Sequence[AuditEntry] = (),
) -> None:
    repository.insert_transitions(conn, transitions)
    audit.record(conn, [*records, *(_audit_entry(t) for t in transitions)], now)


def _audit_entry(t: Transition) -> AuditEntry:
    o = t.occurrence
    return AuditEntry(
        actor=t.actor,
        action=f"alarm.{t.action}",
        object_type="alarm",
        object_id=str(o.id),
        before=t.before,
        after=t.after,
        reason=t.reason,
        data={**o.snapshot(), "channel": t.channel.value, "note": t.note},
        site=o.site,
        area=o.area,
    )


Published = list[tuple[str, Alarm]]
"""(transition, the alarm as committed) for live subscribers."""


def apply_events(conn: Connection, events: Sequence[Event], now: datetime) -> Published:
    """Derive transitions from newly stored events; runs inside the ingest transaction.

    Events apply in ``seq`` order. ``alarm.raised`` opens an occurrence keyed by (agent,
    ``context["occurrence"]``, else the event_id); a second raise of the same key changes
    nothing. ``alarm.cleared`` returns the named occurrence of the same agent. ``alarm.acked``
    (an ack at the agent's panel: context ``occurrence``, ``by``, ``note``) acknowledges it, or
    is kept as ``ack_ignored`` if it was acknowledged first at the hub. Then the flag changes
    made at the agent (``alarm.shelved``, ``alarm.unshelved``, ``alarm.flag``) apply, see
    ``hub.alarms.sync``.

    Returns the changes to publish once the transaction commits.
    """
    published = _apply_occurrence_events(conn, events, now)
    outcome = sync.apply_flag_events(conn, events)
    if outcome.definitions:
        repository.save_definitions(conn, list(outcome.definitions.values()), now)
        _record(conn, outcome.transitions, now)
        audit.record(conn, outcome.definition_audits, now)
        published += [
            (t.action, _view(t.occurrence, outcome.definitions, now)) for t in outcome.transitions
        ]
    return published


def _apply_occurrence_events(conn: Connection, events: Sequence[Event], now: datetime) -> Published:
    alarm_events = sorted((e for e in events if e.type in _ALARM_EVENTS), key=lambda e: e.seq)
    if not alarm_events:
        return []
    keyed: list[tuple[Event, tuple[str, str]]] = []
    for event in alarm_events:
        occurrence = occurrence_of(event)
        if occurrence is None and event.type is EventType.ALARM_RAISED:
            occurrence = event.event_id
        # A clear or ack that names no occurrence cannot be matched: kept as an event only.
        if occurrence is not None:
            keyed.append((event, (event.agent_id, occurrence)))
    occurrences = repository.load_occurrences(conn, {key for _, key in keyed})
    wanted = {(e.agent_id, rule_of(e)) for e, _ in keyed if e.type is EventType.ALARM_RAISED}
    wanted |= {(o.agent_id, o.rule) for o in occurrences.values()}
    definitions = repository.load_definitions(conn, wanted)
    new_definitions: list[Definition] = []
    transitions: list[Transition] = []
    for event, key in keyed:
        actor = agent_actor(event.agent_id)
        found = occurrences.get(key)
        if event.type is EventType.ALARM_RAISED:
            if found is not None:
                continue
            rule = rule_of(event)
            if (event.agent_id, rule) not in definitions:
                definition = Definition(agent_id=event.agent_id, rule=rule)
                definitions[event.agent_id, rule] = definition
                new_definitions.append(definition)
            where = location_of(event)
            occurrences[key] = found = Occurrence(
                agent_id=event.agent_id,
                occurrence=key[1],
                rule=rule,
                tag=event.tag,
                severity=event.severity.value if event.severity else None,
                category=event.category.value if event.category else None,
                site=where.site,
                area=where.area,
                line=where.line,
                value=event.value,
                raised_at=event.source_time,
            )
            transitions.append(lifecycle.raised(found, actor, now))
        elif found is None:
            continue
        elif event.type is EventType.ALARM_CLEARED:
            t = lifecycle.returned(found, event.value, event.source_time, actor, now)
            if t is not None:
                transitions.append(t)
        elif event.context.get("channel") == "hub":
            # The agent applying the hub's own ack command: its command.result answers it, and
            # recording it here would read as a second ack made at the agent's panel.
            continue
        else:
            by = text(event.context.get("by")) or "unknown"
            transitions.append(
                lifecycle.acknowledged(
                    found,
                    by=by,
                    actor=panel_actor(event.agent_id, by),
                    channel=Channel.AGENT_PANEL,
                    note=text(event.context.get("note")),
                    at=now,
                )
            )
    repository.save_definitions(conn, new_definitions, now)
    repository.save_occurrences(conn, list(occurrences.values()), now)
    _record(conn, transitions, now)
    return [(t.action, _view(t.occurrence, definitions, now)) for t in transitions]


def _view(
    occurrence: Occurrence, definitions: dict[tuple[str, str], Definition], now: datetime
) -> Alarm:
    return Alarm.of(occurrence, definitions[occurrence.agent_id, occurrence.rule], now)


def _in_scope(conn: Connection, alarm_id: int, scope: Scope) -> tuple[Occurrence, Definition]:
    found = repository.get(conn, alarm_id)
    # Out of scope looks exactly like absent: a user must not learn what exists elsewhere.
    if found is None or not scope.allows(found[0].site, found[0].area):
        raise NotFound(f"no alarm {alarm_id}")
    return found


@dataclass(frozen=True)
class Change:
    """The outcome of a user's request, for the reply and for live subscribers."""

    alarm: Alarm
    transition: str


async def acknowledge(
    db: Database,
    bus: AlarmBus,
    alarm_id: int,
    *,
    scope: Scope,
    username: str,
    actor: str,
    note: str | None,
    channel: Channel,
    now: datetime,
    records: Sequence[AuditEntry] = (),
) -> Change:
    """Acknowledge at the hub and queue an ``ack`` command for the agent, in one commit.

    ``records`` are audited in that commit, before the change (a panel's identification of
    the person acting): both are kept, or neither.

    Raises:
        NotFound: no such alarm in the caller's scope.
        Unprocessable: a high or critical alarm without a note.
        Conflict: already acknowledged (the attempt is still recorded in the history).
    """
    note = note.strip() if note else None

    def work(conn: Connection) -> tuple[Change, str | None]:
        occurrence, definition = _in_scope(conn, alarm_id, scope)
        if occurrence.severity in NOTE_REQUIRED and not note:
            raise Unprocessable(f"a note is required to acknowledge a {occurrence.severity} alarm")
        t = lifecycle.acknowledged(
            occurrence, by=username, actor=actor, channel=channel, note=note, at=now
        )
        repository.save_occurrences(conn, [occurrence], now)
        _record(conn, [t], now, records)
        if t.action == "acknowledged":
            commands.queue_ack(
                conn, occurrence.agent_id, occurrence.occurrence, username, note, now
            )
        return Change(Alarm.of(occurrence, definition, now), t.action), t.reason

    change, refused = await db.write(work)
    bus.publish([(change.transition, change.alarm)])
    if refused is not None:
        raise Conflict(refused)
    return change


async def shelve(
    db: Database,
    bus: AlarmBus,
    alarm_id: int,
    *,
    scope: Scope,
    actor: str,
    minutes: int,
    max_minutes: int,
    reason: str,
    channel: Channel,
    now: datetime,
    records: Sequence[AuditEntry] = (),
) -> Change:
    """Shelve the alarm; ``records`` are audited with it, as in ``acknowledge``."""
    if minutes > max_minutes:
        raise Unprocessable(f"minutes: at most {max_minutes} (the hub's maximum shelve)")
    until = now + timedelta(minutes=minutes)
    return await _change_definition(
        db,
        bus,
        alarm_id,
        scope,
        now,
        lambda d, o: lifecycle.shelve(
            d, o, until=until, reason=reason, actor=actor, channel=channel, at=now
        ),
        records,
    )


async def unshelve(
    db: Database,
    bus: AlarmBus,
    alarm_id: int,
    *,
    scope: Scope,
    actor: str,
    reason: str | None,
    channel: Channel,
    now: datetime,
) -> Change:
    return await _change_definition(
        db,
        bus,
        alarm_id,
        scope,
        now,
        lambda d, o: lifecycle.unshelve(d, o, reason=reason, actor=actor, channel=channel, at=now),
    )


async def set_flag(
    db: Database,
    bus: AlarmBus,
    alarm_id: int,
    *,
    flag: str,
    on: bool,
    scope: Scope,
    actor: str,
    reason: str | None,
    channel: Channel,
    now: datetime,
) -> Change:
    """Suppress / unsuppress, or take out of / return to service."""
    return await _change_definition(
        db,
        bus,
        alarm_id,
        scope,
        now,
        lambda d, o: lifecycle.set_flag(
            d, o, flag=flag, on=on, reason=reason, actor=actor, channel=channel, at=now
        ),
    )


async def _change_definition(
    db: Database,
    bus: AlarmBus,
    alarm_id: int,
    scope: Scope,
    now: datetime,
    change: lifecycle.DefinitionChange,
    records: Sequence[AuditEntry] = (),
) -> Change:
    """Change the alarm's flags and queue the command that tells its agent, in one commit."""

    def work(conn: Connection) -> Change:
        occurrence, definition = _in_scope(conn, alarm_id, scope)
        before = definition.shelved_until if definition.shelved(now) else None
        try:
            t = change(definition, occurrence)
        except LifecycleError as exc:
            raise Conflict(str(exc)) from exc
        repository.save_definitions(conn, [definition], now)
        _record(conn, [t], now, records)
        _tell_agent(conn, definition, t, before, now)
        return Change(Alarm.of(occurrence, definition, now), t.action)

    change_made = await db.write(work)
    bus.publish([(change_made.transition, change_made.alarm)])
    return change_made


def _tell_agent(
    conn: Connection, definition: Definition, t: Transition, before: datetime | None, now: datetime
) -> None:
    agent_id, rule = definition.agent_id, definition.rule
    if t.action in ("shelved", "unshelved"):
        commands.queue_shelve(
            conn,
            agent_id,
            rule,
            until=definition.shelved_until,
            before=before,
            reason=t.reason,
            by=t.actor,
            at=now,
        )
    else:  # suppressed / unsuppressed, removed_from_service / returned_to_service
        suppress = t.action in ("suppressed", "unsuppressed")
        commands.queue_flag(
            conn,
            agent_id,
            rule,
            flag="suppressed" if suppress else "out_of_service",
            on=definition.suppressed if suppress else definition.out_of_service,
            reason=t.reason,
            by=t.actor,
            at=now,
        )


async def expire_shelves(db: Database, bus: AlarmBus, now: datetime) -> Published:
    """Unshelve every alarm whose shelve has run out; the durable timer calls this."""

    def work(conn: Connection) -> Published:
        transitions = []
        definitions = repository.expired_shelves(conn, now)
        for definition in definitions:
            through = repository.latest_occurrence(conn, definition.agent_id, definition.rule)
            if through is None:  # cannot happen: a definition is made with its first occurrence
                continue
            transitions.append(
                lifecycle.unshelve(
                    definition,
                    through,
                    reason="shelve expired",
                    actor=SYSTEM_ACTOR,
                    channel=Channel.SYSTEM,
                    at=now,
                    expired=True,
                )
            )
        repository.save_definitions(conn, definitions, now)
        _record(conn, transitions, now)
        by_key = {(d.agent_id, d.rule): d for d in definitions}
        return [(t.action, _view(t.occurrence, by_key, now)) for t in transitions]

    # Most passes find nothing: look on a reader first and leave the writer alone then.
    if not await db.read(lambda cur: repository.expired_shelves(cur, now)):
        return []
    published = await db.write(work)
    bus.publish(published)
    return published


async def next_shelve_expiry(db: Database) -> datetime | None:
    return await db.read(repository.next_shelve_expiry)


async def get_alarm(db: Database, alarm_id: int, scope: Scope, now: datetime) -> Alarm:
    occurrence, definition = await db.read(lambda cur: _in_scope(cur, alarm_id, scope))
    return Alarm.of(occurrence, definition, now)


async def history(db: Database, alarm_id: int, scope: Scope) -> list[HistoryEntry]:
    def query(cur: Connection) -> list[HistoryEntry]:
        _in_scope(cur, alarm_id, scope)
        return repository.history(cur, alarm_id)

    return await db.read(query)


async def list_alarms(
    db: Database, filters: AlarmFilters, scope: Scope, now: datetime, after: str | None, limit: int
) -> Page[Alarm]:
    key: tuple[datetime, int] | None = None
    if after is not None:
        micros, alarm_id = decode_cursor(after, (int, int))
        assert isinstance(micros, int) and isinstance(alarm_id, int)
        key = (_EPOCH + timedelta(microseconds=micros), alarm_id)
    # One row more than asked tells whether a next page exists.
    rows = await db.read(
        lambda cur: repository.list_alarms(cur, filters, scope, now, key, limit + 1)
    )
    items = [Alarm.of(o, d, now) for o, d in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        micros = (last.raised_at - _EPOCH) // timedelta(microseconds=1)
        next_cursor = encode_cursor([micros, last.id])
    return Page[Alarm](items=items, next=next_cursor)


async def open_by_state(db: Database, now: datetime) -> dict[str, int]:
    return await db.read(lambda cur: repository.count_open_by_state(cur, now))
