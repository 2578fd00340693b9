"""Pure: the ISA-18.2 / OPC UA Part 9 alarm state machine, with no SQL and no clock of its own.

An occurrence (one activation of an alarm) is active or returned, and acknowledged or not. Its
alarm (the definition: agent + rule) can be shelved until a time, suppressed, or out of service;
those hide its occurrences from the annunciated states while they hold. Every change yields a
``Transition`` that the service stores in the history and in the audit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from protocols.wire import Scalar

CLOSED_STATE = "normal"


class Channel(StrEnum):
    """Where a transition was made."""

    HMI = "hmi"
    API = "api"
    AGENT_PANEL = "agent-panel"
    AGENT = "agent"
    """The agent's own detection (raise, return)."""
    SYSTEM = "system"
    """The hub itself (timers)."""


class AlarmState(StrEnum):
    """One summary state per occurrence, for lists and filters (ISA-18.2 names, spelt as the
    agent's panel spells them)."""

    UNACK_ACTIVE = "unack-active"
    ACK_ACTIVE = "ack-active"
    RETURNED_UNACK = "returned-unack"
    NORMAL = CLOSED_STATE
    """Returned and acknowledged: the occurrence is closed."""
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"
    OUT_OF_SERVICE = "out-of-service"


class LifecycleError(Exception):
    """A requested transition does not apply in the current state (rendered as 409)."""


@dataclass
class Definition:
    agent_id: str
    rule: str
    shelved_until: datetime | None = None
    shelved_by: str | None = None
    shelve_reason: str | None = None
    suppressed: bool = False
    out_of_service: bool = False

    def shelved(self, now: datetime) -> bool:
        return self.shelved_until is not None and self.shelved_until > now

    def flags(self, now: datetime) -> dict[str, Any]:
        until = self.shelved_until
        return {
            "shelved_until": until.isoformat() if until is not None and until > now else None,
            "suppressed": self.suppressed,
            "out_of_service": self.out_of_service,
        }


@dataclass
class Occurrence:
    agent_id: str
    occurrence: str
    rule: str
    tag: str | None
    severity: str | None
    category: str | None
    site: str | None
    area: str | None
    line: str | None
    value: Scalar
    raised_at: datetime
    active: bool = True
    acknowledged: bool = False
    cleared_at: datetime | None = None
    cleared_value: Scalar = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    ack_note: str | None = None
    ack_channel: str | None = None
    id: int | None = None
    """Assigned by the database on insert."""
    dirty: bool = field(default=False, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return self.agent_id, self.occurrence

    def condition(self) -> dict[str, Any]:
        return {"active": self.active, "acknowledged": self.acknowledged}

    def snapshot(self) -> dict[str, Any]:
        """The data behind a decision, kept in the audit record."""
        return {
            "agent_id": self.agent_id,
            "occurrence": self.occurrence,
            "rule": self.rule,
            "tag": self.tag,
            "severity": self.severity,
            "value": self.value,
            "raised_at": self.raised_at.isoformat(),
        }


@dataclass
class Transition:
    occurrence: Occurrence
    action: str
    actor: str
    channel: Channel
    at: datetime
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str | None = None
    note: str | None = None


DefinitionChange = Callable[["Definition", "Occurrence"], "Transition"]
"""A change to an alarm's flags, made through one of its occurrences."""


def summary_state(occurrence: Occurrence, definition: Definition, now: datetime) -> AlarmState:
    """Closed occurrences are ``normal`` whatever their alarm's flags; open ones are hidden by
    out-of-service, then suppression, then shelving (OPC UA Part 9 precedence)."""
    if occurrence.active or not occurrence.acknowledged:
        if definition.out_of_service:
            return AlarmState.OUT_OF_SERVICE
        if definition.suppressed:
            return AlarmState.SUPPRESSED
        if definition.shelved(now):
            return AlarmState.SHELVED
    if occurrence.active:
        return AlarmState.ACK_ACTIVE if occurrence.acknowledged else AlarmState.UNACK_ACTIVE
    return AlarmState.NORMAL if occurrence.acknowledged else AlarmState.RETURNED_UNACK


def raised(occurrence: Occurrence, actor: str, at: datetime) -> Transition:
    occurrence.dirty = True
    return Transition(occurrence, "raised", actor, Channel.AGENT, at, {}, occurrence.condition())


def returned(
    occurrence: Occurrence, value: Scalar, cleared_at: datetime, actor: str, at: datetime
) -> Transition | None:
    """None if the occurrence has already returned (a repeated clear changes nothing)."""
    if not occurrence.active:
        return None
    before = occurrence.condition()
    occurrence.active, occurrence.cleared_at, occurrence.cleared_value = False, cleared_at, value
    occurrence.dirty = True
    return Transition(
        occurrence, "returned", actor, Channel.AGENT, at, before, occurrence.condition()
    )


def acknowledged(
    occurrence: Occurrence,
    *,
    by: str,
    actor: str,
    channel: Channel,
    note: str | None,
    at: datetime,
) -> Transition:
    """Acknowledge; a second ack (from the other side, usually) loses and is kept as
    ``ack_ignored`` with who had acknowledged first."""
    before = occurrence.condition()
    if occurrence.acknowledged:
        reason = (
            f"already acknowledged by {occurrence.acked_by} via {occurrence.ack_channel}"
            f" at {occurrence.acked_at.isoformat() if occurrence.acked_at else '?'}"
        )
        return Transition(
            occurrence, "ack_ignored", actor, channel, at, before, before, reason, note
        )
    occurrence.acknowledged = True
    occurrence.acked_at, occurrence.acked_by = at, by
    occurrence.ack_note, occurrence.ack_channel = note, channel.value
    occurrence.dirty = True
    return Transition(
        occurrence, "acknowledged", actor, channel, at, before, occurrence.condition(), None, note
    )


def shelve(
    definition: Definition,
    through: Occurrence,
    *,
    until: datetime,
    reason: str,
    actor: str,
    channel: Channel,
    at: datetime,
) -> Transition:
    """Shelve the alarm of ``through`` until ``until``; shelving again moves the end."""
    before = definition.flags(at)
    definition.shelved_until, definition.shelved_by, definition.shelve_reason = until, actor, reason
    return Transition(through, "shelved", actor, channel, at, before, definition.flags(at), reason)


def unshelve(
    definition: Definition,
    through: Occurrence,
    *,
    reason: str | None,
    actor: str,
    channel: Channel,
    at: datetime,
    expired: bool = False,
) -> Transition:
    """Raises LifecycleError if the alarm is not shelved (unless the shelve has ``expired``)."""
    if definition.shelved_until is None or (not expired and not definition.shelved(at)):
        raise LifecycleError("the alarm is not shelved")
    before = {**definition.flags(at), "shelved_until": definition.shelved_until.isoformat()}
    definition.shelved_until = definition.shelved_by = definition.shelve_reason = None
    return Transition(
        through, "unshelved", actor, channel, at, before, definition.flags(at), reason
    )


def ignored(
    definition: Definition,
    through: Occurrence,
    *,
    action: str,
    actor: str,
    channel: Channel,
    at: datetime,
    reason: str,
) -> Transition:
    """A change that lost (another came first) or changed nothing: kept as ``ACTION_ignored``
    with the reason, the alarm left as it is."""
    flags = definition.flags(at)
    return Transition(through, f"{action}_ignored", actor, channel, at, flags, flags, reason)


def set_flag(
    definition: Definition,
    through: Occurrence,
    *,
    flag: str,
    on: bool,
    reason: str | None,
    actor: str,
    channel: Channel,
    at: datetime,
) -> Transition:
    """Set ``suppressed`` or ``out_of_service``; LifecycleError if it already has that value."""
    if flag not in ("suppressed", "out_of_service"):
        raise ValueError(flag)
    if getattr(definition, flag) == on:
        raise LifecycleError(f"the alarm is already {'' if on else 'not '}{flag.replace('_', ' ')}")
    before = definition.flags(at)
    setattr(definition, flag, on)
    actions = {
        ("suppressed", True): "suppressed",
        ("suppressed", False): "unsuppressed",
        ("out_of_service", True): "removed_from_service",
        ("out_of_service", False): "returned_to_service",
    }
    return Transition(
        through, actions[flag, on], actor, channel, at, before, definition.flags(at), reason
    )
