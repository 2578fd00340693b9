"""Alarm states at the edge (ISA-18.2 / OPC UA Part 9), so a panel can alarm and acknowledge
while the hub is unreachable.

Each activation of a rule's condition is a new occurrence with its own id. An occurrence is
active or returned, acknowledged or not; a latching rule keeps it active until acknowledged.
Shelving (timed, with a maximum), suppression and out-of-service are flags of the alarm
definition (the rule), separate from the state, as the standard keeps them. Pure: every call
takes the time, and every change returns the events that tell the hub about it.

Sync with the hub. Acknowledgements: the first one wins on each side, a later one is recorded.
Flags (shelve, suppressed, out of service): the hub decides the order. A change made here goes
up as an event carrying ``seen``, the issue time of the last hub command for that flag applied
here; the hub applies it unless one of its own users changed the flag after ``seen`` (then that
change came first, and this one is recorded as ignored). A change made at the hub comes down as
a command, which this board always follows: when the hub made it, it had not seen any local
change still on its way, and that change will be refused there, so both sides end alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import TypeAdapter

from edge_agent.buffer import Draft
from edge_agent.detect import Transition
from protocols.wire import Category, EventType, Scalar, Severity


class AlarmState(StrEnum):
    NORMAL = "normal"
    UNACK_ACTIVE = "unack-active"
    ACK_ACTIVE = "ack-active"
    RETURNED_UNACK = "returned-unack"


class AlarmError(ValueError):
    """A request that does not fit the alarm (unknown id, shelving too long, ...)."""


PANEL = "agent-panel"
"""Channel of a change made by a person at the agent's panel."""
HUB = "hub"
"""Channel of a change the hub made (its command)."""
AGENT = "agent"
"""Channel of a change the agent made on its own (a shelve running out)."""
Flag = Literal["suppressed", "out_of_service"]
FLAGS: tuple[Flag, ...] = ("suppressed", "out_of_service")


@dataclass(frozen=True, slots=True)
class Occurrence:
    id: str
    rule: str
    tag: str
    severity: Severity
    category: Category
    raised_at: datetime
    value: Scalar
    limit: Scalar
    message: str = ""
    active: bool = True
    latched: bool = False
    cleared_at: datetime | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None
    ack_note: str | None = None
    ack_channel: str | None = None

    @property
    def acked(self) -> bool:
        return self.acked_at is not None

    @property
    def state(self) -> AlarmState:
        if self.active or self.latched:
            return AlarmState.ACK_ACTIVE if self.acked else AlarmState.UNACK_ACTIVE
        return AlarmState.NORMAL if self.acked else AlarmState.RETURNED_UNACK


@dataclass(frozen=True, slots=True)
class Definition:
    """The flags of one alarm (a rule's condition), whatever its occurrences.

    The ``*_seen`` fields keep the issue time of the last hub command applied to each flag (see
    the module docstring).
    """

    rule: str
    shelved_until: datetime | None = None
    shelve_reason: str | None = None
    suppressed: bool = False
    out_of_service: bool = False
    shelved_by: str | None = None
    shelve_seen: datetime | None = None
    suppressed_seen: datetime | None = None
    out_of_service_seen: datetime | None = None

    def shelved(self, now: datetime) -> bool:
        return self.shelved_until is not None and now < self.shelved_until

    def until(self, now: datetime) -> datetime | None:
        """The end of the shelve in force at ``now``, if any."""
        return self.shelved_until if self.shelved(now) else None


@dataclass
class AlarmBoard:
    """Every alarm definition and every occurrence not yet back to normal.

    Args:
        max_shelve: The longest shelve asked for at this panel (a hub shelve follows the
            hub's own limit).
        latching: Rule names whose occurrences stay active until acknowledged.
    """

    max_shelve: timedelta = timedelta(hours=8)
    latching: frozenset[str] = frozenset()
    occurrences: dict[str, Occurrence] = field(default_factory=dict)
    definitions: dict[str, Definition] = field(default_factory=dict)
    _active: dict[str, str] = field(default_factory=dict)  # rule -> active occurrence id

    def restore(self, occurrences: list[Occurrence], definitions: list[Definition]) -> None:
        """Load the state saved before a restart, so nothing is raised twice."""
        self.occurrences = {o.id: o for o in occurrences}
        self.definitions = {d.rule: d for d in definitions}
        self._active = {o.rule: o.id for o in occurrences if o.active}

    def definition(self, rule: str) -> Definition:
        return self.definitions.get(rule) or Definition(rule)

    def is_latching(self, rule: str) -> bool:
        """From the config in force, never from saved state: ``rule`` is ``NAME`` or
        ``NAME.CONDITION`` and latching is set per rule NAME."""
        return rule in self.latching or rule.rsplit(".", 1)[0] in self.latching

    def on_transition(self, t: Transition) -> list[Draft]:
        if t.active:
            if t.rule in self._active:
                return []  # already active (e.g. restored after a restart)
            occurrence = Occurrence(
                id=uuid.uuid4().hex,
                rule=t.rule,
                tag=t.tag,
                severity=t.severity,
                category=t.category,
                raised_at=t.time,
                value=t.value,
                limit=t.limit,
                message=t.message,
                latched=self.is_latching(t.rule),
            )
            self._active[t.rule] = occurrence.id
            self.occurrences[occurrence.id] = occurrence
            return [self._event(EventType.ALARM_RAISED, occurrence, t.time, t.value)]
        occurrence_id = self._active.pop(t.rule, None)
        if occurrence_id is None:
            return []
        cleared = replace(self.occurrences[occurrence_id], active=False, cleared_at=t.time)
        self._store(cleared)
        return [self._event(EventType.ALARM_CLEARED, cleared, t.time, t.value)]

    def active_rules(self) -> frozenset[str]:
        """The alarm ids with an active occurrence."""
        return frozenset(self._active)

    def end(self, rules: Iterable[str], at: datetime, reason: str) -> list[Draft]:
        """End the active occurrences of ``rules`` (a restart found no rule to carry them on):
        acknowledged or not, each stays on the board until it is."""
        drafts = []
        for rule in sorted(rules):
            occurrence_id = self._active.pop(rule, None)
            if occurrence_id is None:
                continue
            ended = replace(
                self.occurrences[occurrence_id], active=False, latched=False, cleared_at=at
            )
            self._store(ended)
            drafts.append(self._event(EventType.ALARM_CLEARED, ended, at, None, {"reason": reason}))
        return drafts

    def acknowledge(
        self, occurrence_id: str, by: str, note: str | None, channel: str, at: datetime
    ) -> list[Draft]:
        """First acknowledgement wins; a later one is recorded, not applied."""
        occurrence = self.occurrences.get(occurrence_id)
        if occurrence is None:
            raise AlarmError(f"no open alarm occurrence {occurrence_id!r}")
        ack = {"by": by, "note": note, "channel": channel}
        if occurrence.acked:
            ignored = {**ack, "ignored": f"already acknowledged by {occurrence.acked_by}"}
            return [self._event(EventType.ALARM_ACKED, occurrence, at, None, ignored)]
        acked = replace(
            occurrence,
            acked_by=by,
            acked_at=at,
            ack_note=note,
            ack_channel=channel,
            latched=False,
        )
        self._store(acked)
        return [self._event(EventType.ALARM_ACKED, acked, at, None, ack)]

    # --- flags changed at the panel: each change returns the event that tells the hub ----------

    def shelve(
        self, rule: str, until: datetime, *, reason: str, by: str, at: datetime
    ) -> list[Draft]:
        """Shelve until ``until`` (at most ``max_shelve`` ahead); shelving again moves the end."""
        if until - at > self.max_shelve:
            raise AlarmError(f"an alarm can be shelved for at most {self.max_shelve}")
        definition = self.definition(rule)
        self.definitions[rule] = replace(
            definition, shelved_until=until, shelve_reason=reason, shelved_by=by
        )
        context = {"until": until.isoformat(), "reason": reason, "by": by, "channel": PANEL}
        return [
            self._flag_event(EventType.ALARM_SHELVED, rule, at, definition.shelve_seen, context)
        ]

    def unshelve(self, rule: str, *, reason: str, by: str, at: datetime) -> list[Draft]:
        """End the shelve now; nothing happens (and nothing is sent) if it is not shelved."""
        definition = self.definition(rule)
        until = definition.until(at)
        if until is None:
            return []
        self.definitions[rule] = _unshelved(definition)
        context: dict[str, Scalar] = {
            "until": until.isoformat(),
            "reason": reason,
            "by": by,
            "channel": PANEL,
            "expired": False,
        }
        return [
            self._flag_event(EventType.ALARM_UNSHELVED, rule, at, definition.shelve_seen, context)
        ]

    def set_flag(
        self, rule: str, flag: Flag, on: bool, *, reason: str | None, by: str, at: datetime
    ) -> list[Draft]:
        """Suppress / take out of service (or back); nothing is sent if the flag already is so."""
        definition = self.definition(rule)
        if getattr(definition, flag) == on:
            return []
        changes: dict[str, Any] = {flag: on}
        self.definitions[rule] = replace(definition, **changes)
        context: dict[str, Scalar] = {
            "flag": flag,
            "on": on,
            "reason": reason,
            "by": by,
            "channel": PANEL,
        }
        seen: datetime | None = getattr(definition, f"{flag}_seen")
        return [self._flag_event(EventType.ALARM_FLAG, rule, at, seen, context)]

    def tick(self, now: datetime) -> list[Draft]:
        """End the shelves whose time is up; each end goes to the hub as an event."""
        drafts = []
        for definition in list(self.definitions.values()):
            until = definition.shelved_until
            if until is None or now < until:
                continue
            self.definitions[definition.rule] = _unshelved(definition)
            context: dict[str, Scalar] = {
                "until": until.isoformat(),
                "reason": "shelve expired",
                "by": AGENT,
                "channel": AGENT,
                "expired": True,
            }
            drafts.append(
                self._flag_event(
                    EventType.ALARM_UNSHELVED,
                    definition.rule,
                    until,
                    definition.shelve_seen,
                    context,
                )
            )
        return drafts

    # --- flags changed at the hub (its commands): followed, never answered with an event ------

    def follow_hub_shelve(
        self,
        rule: str,
        until: datetime | None,
        *,
        before: datetime | None,
        reason: str,
        by: str,
        issued_at: datetime,
        at: datetime,
    ) -> str:
        """Shelve (or unshelve, ``until`` None) as the hub did; returns what was done.

        Args:
            before: The hub's shelve end before its change, to tell whether a change made here
                is being replaced (the hub had not seen it; it will refuse it when it arrives).
        """
        # No max_shelve check: it limits shelves asked for at this panel. The hub has its own
        # limit and decides the order, so refusing its shelve would leave the two disagreeing.
        definition = self.definition(rule)
        mine = definition.until(at)
        seen = _later(definition.shelve_seen, issued_at)
        if until is None:
            self.definitions[rule] = replace(_unshelved(definition), shelve_seen=seen)
            done = "unshelved" if mine is not None else "already unshelved here"
        else:
            self.definitions[rule] = replace(
                definition,
                shelved_until=until,
                shelve_reason=reason,
                shelved_by=by,
                shelve_seen=seen,
            )
            done = f"shelved until {until.isoformat()}"
        if mine != before and mine != until:
            shown = mine.isoformat() if mine is not None else "not shelved"
            done += f"; replaced this agent's own change ({shown}), which the hub had not seen"
        return done

    def follow_hub_flag(self, rule: str, flag: Flag, on: bool, *, issued_at: datetime) -> str:
        """Set ``flag`` as the hub did; returns what was done."""
        definition = self.definition(rule)
        seen = _later(getattr(definition, f"{flag}_seen"), issued_at)
        already = getattr(definition, flag) == on
        changes: dict[str, Any] = {flag: on, f"{flag}_seen": seen}
        self.definitions[rule] = replace(definition, **changes)
        state = flag.replace("_", " ") if on else f"not {flag.replace('_', ' ')}"
        return f"already {state} here" if already else state

    def open(self) -> list[Occurrence]:
        """Occurrences not back to normal, most severe and newest first."""
        order = list(Severity)
        return sorted(
            self.occurrences.values(),
            key=lambda o: (-order.index(o.severity), -o.raised_at.timestamp()),
        )

    def _store(self, occurrence: Occurrence) -> None:
        if occurrence.state is AlarmState.NORMAL:
            self.occurrences.pop(occurrence.id, None)
        else:
            self.occurrences[occurrence.id] = occurrence

    def _latest(self, rule: str) -> Occurrence | None:
        """The newest occurrence of ``rule`` still on the board."""
        mine = [o for o in self.occurrences.values() if o.rule == rule]
        return max(mine, key=lambda o: o.raised_at) if mine else None

    def _flag_event(
        self,
        kind: EventType,
        rule: str,
        at: datetime,
        seen: datetime | None,
        extra: Mapping[str, Scalar],
    ) -> Draft:
        """An alarm-flag change for the hub; it names the newest occurrence the board holds, so
        the hub records the change on it (else on the newest it knows of the rule)."""
        latest = self._latest(rule)
        context: dict[str, Scalar] = {"seen": seen.isoformat() if seen else None, **extra}
        if latest is not None:
            context["occurrence"] = latest.id
        return Draft(
            type=kind,
            source_time=at,
            tag=latest.tag if latest else None,
            rule=rule,
            severity=latest.severity if latest else None,
            category=latest.category if latest else None,
            context=context,
        )

    def _event(
        self,
        kind: EventType,
        occurrence: Occurrence,
        at: datetime,
        value: Scalar,
        extra: Mapping[str, Scalar] | None = None,
    ) -> Draft:
        definition = self.definition(occurrence.rule)
        context: dict[str, Scalar] = {
            "occurrence": occurrence.id,
            "limit": occurrence.limit,
            "message": occurrence.message,
            "state": occurrence.state.value,
            "shelved": definition.shelved(at),
            "suppressed": definition.suppressed,
            "out_of_service": definition.out_of_service,
            **(extra or {}),
        }
        return Draft(
            type=kind,
            source_time=at,
            tag=occurrence.tag,
            value=value,
            rule=occurrence.rule,
            severity=occurrence.severity,
            category=occurrence.category,
            context=context,
        )


def _unshelved(definition: Definition) -> Definition:
    return replace(definition, shelved_until=None, shelve_reason=None, shelved_by=None)


def _later(seen: datetime | None, issued_at: datetime) -> datetime:
    return issued_at if seen is None else max(seen, issued_at)


_SAVED = TypeAdapter(tuple[list[Occurrence], list[Definition]])


def dump_board(board: AlarmBoard) -> str:
    """The board's state as JSON, saved with the events that changed it."""
    return _SAVED.dump_json(
        (list(board.occurrences.values()), list(board.definitions.values()))
    ).decode()


def load_board(board: AlarmBoard, saved: str) -> None:
    occurrences, definitions = _SAVED.validate_json(saved)
    board.restore(occurrences, definitions)
