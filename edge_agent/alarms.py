"""Alarm states at the edge (ISA-18.2 / OPC UA Part 9), so a panel can alarm and acknowledge
while the hub is unreachable.

Each activation of a rule's condition is a new occurrence with its own id. An occurrence is
active or returned, acknowledged or not; a latching rule keeps it active until acknowledged.
Shelving (timed, with a maximum), suppression and out-of-service are flags of the alarm
definition (the rule), separate from the state, as the standard keeps them. Pure: every call
takes the time, and every change returns the events that tell the hub about it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

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
    """The flags of one alarm (a rule's condition), whatever its occurrences."""

    rule: str
    shelved_until: datetime | None = None
    shelve_reason: str | None = None
    suppressed: bool = False
    out_of_service: bool = False

    def shelved(self, now: datetime) -> bool:
        return self.shelved_until is not None and now < self.shelved_until


@dataclass
class AlarmBoard:
    """Every alarm definition and every occurrence not yet back to normal.

    Args:
        max_shelve: The longest an alarm may be shelved.
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

    def end_active(self, at: datetime, reason: str) -> list[Draft]:
        """After a restart the detectors start afresh and cannot vouch for conditions they did
        not see: end every active occurrence (acknowledged or not, it stays on the board until
        it is) and let the detectors raise a new one if the condition is still there."""
        drafts = []
        for rule, occurrence_id in list(self._active.items()):
            del self._active[rule]
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

    def shelve(self, rule: str, until: datetime | None, reason: str, now: datetime) -> None:
        """Shelve until a time (at most ``max_shelve`` ahead), or unshelve with ``None``."""
        if until is not None and until - now > self.max_shelve:
            raise AlarmError(f"an alarm can be shelved for at most {self.max_shelve}")
        self.definitions[rule] = replace(
            self.definition(rule), shelved_until=until, shelve_reason=reason if until else None
        )

    def set_flags(self, rule: str, *, suppressed: bool, out_of_service: bool) -> None:
        self.definitions[rule] = replace(
            self.definition(rule), suppressed=suppressed, out_of_service=out_of_service
        )

    def tick(self, now: datetime) -> list[str]:
        """Unshelve what has expired; returns the rules unshelved."""
        expired = [
            d.rule
            for d in self.definitions.values()
            if d.shelved_until is not None and now >= d.shelved_until
        ]
        for rule in expired:
            self.shelve(rule, None, "", now)
        return expired

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


_SAVED = TypeAdapter(tuple[list[Occurrence], list[Definition]])


def dump_board(board: AlarmBoard) -> str:
    """The board's state as JSON, saved with the events that changed it."""
    return _SAVED.dump_json(
        (list(board.occurrences.values()), list(board.definitions.values()))
    ).decode()


def load_board(board: AlarmBoard, saved: str) -> None:
    occurrences, definitions = _SAVED.validate_json(saved)
    board.restore(occurrences, definitions)
