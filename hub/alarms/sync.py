"""Alarm flags changed at an agent: shelve, unshelve, shelve expiry, suppressed, out of service.

The agent sends each change it made (at its panel, or a shelve running out there) as an event;
this module applies it to the hub's alarm inside the ingest transaction. The transition names
the person (``panel:AGENT:NAME``; ``agent:AGENT`` for an expiry), the channel (``agent-panel``;
``agent`` for an expiry), the reason, and the time the change was made at the agent.

First action wins, the other is recorded, as for acknowledgements; the hub orders the changes.
Each event carries ``seen``, the issue time of the last hub command for that flag the agent had
applied. If a hub user changed the flag after that, the hub's change came first (the agent had
not seen it when it made its own, and its command brings the agent to the hub's state): the
agent's change is kept as ``ACTION_ignored`` and changes nothing. A change that would change
nothing (unshelving what is not shelved, suppressing what is) is kept the same way. An expiry
the hub's own shelve timer has already carried out is not recorded twice.

A change for an alarm the hub has no occurrence of (shelved at the panel before it ever raised)
still sets the alarm's flags; it is audited on the definition (``object_type``
``alarm_definition``, ``object_id`` ``AGENT:RULE``), as there is no occurrence to put it on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from hub.alarms import lifecycle, repository
from hub.alarms.lifecycle import Channel, Definition, Occurrence, Transition
from hub.audit.schemas import AuditEntry, agent_actor, panel_actor
from hub.location import location_of, text
from hub.storage import Connection
from protocols.wire import Event, EventType, Scalar

FLAG_EVENTS = frozenset({EventType.ALARM_SHELVED, EventType.ALARM_UNSHELVED, EventType.ALARM_FLAG})
HUB_CHANNELS = (Channel.HMI.value, Channel.API.value)
"""Where hub users change alarms (the shelve timer, channel ``system``, is no one's choice)."""
SHELVE_ACTIONS = ("shelved", "unshelved")
FLAG_ACTIONS = {
    "suppressed": ("suppressed", "unsuppressed"),
    "out_of_service": ("removed_from_service", "returned_to_service"),
}
_FLAG_VERBS = {
    ("suppressed", True): "suppress",
    ("suppressed", False): "unsuppress",
    ("out_of_service", True): "remove_from_service",
    ("out_of_service", False): "return_to_service",
}
FlagName = Literal["suppressed", "out_of_service"]
_FLAG_NAMES: dict[str, FlagName] = {"suppressed": "suppressed", "out_of_service": "out_of_service"}


@dataclass
class Outcome:
    """What the agent's changes did: transitions on occurrences, audit entries on definitions
    without one, and every definition changed (to save and to render)."""

    transitions: list[Transition] = field(default_factory=list)
    definition_audits: list[AuditEntry] = field(default_factory=list)
    definitions: dict[tuple[str, str], Definition] = field(default_factory=dict)


class _Change:
    """One agent event, read: which alarm, who, what, when."""

    def __init__(self, event: Event) -> None:
        context = event.context
        self.event = event
        self.agent_id = event.agent_id
        self.rule = event.rule or event.tag or "unnamed"
        self.at = event.source_time
        self.by = text(context.get("by")) or "unknown"
        self.reason = text(context.get("reason"))
        self.expired = event.type is EventType.ALARM_UNSHELVED and context.get("expired") is True
        self.channel = Channel.AGENT if self.expired else Channel.AGENT_PANEL
        self.actor = (
            agent_actor(self.agent_id) if self.expired else panel_actor(self.agent_id, self.by)
        )
        self.seen = _time(context.get("seen"))
        self.until = _time(context.get("until"))
        flag = context.get("flag")
        self.flag = _FLAG_NAMES.get(flag) if isinstance(flag, str) else None
        self.on = context.get("on") is True

    @property
    def key(self) -> tuple[str, str]:
        return self.agent_id, self.rule

    def verb(self) -> str:
        if self.flag is not None:
            return _FLAG_VERBS[self.flag, self.on]
        return "shelve" if self.event.type is EventType.ALARM_SHELVED else "unshelve"


def apply_flag_events(conn: Connection, events: Sequence[Event]) -> Outcome:
    """Apply the agent-made flag changes among ``events``, in ``seq`` order. The caller saves
    ``definitions`` and records the transitions and audit entries in the same transaction.
    Malformed changes (a shelve without ``until``, an unknown flag) are kept as events only."""
    changes = [_Change(e) for e in sorted(events, key=lambda e: e.seq) if e.type in FLAG_EVENTS]
    outcome = Outcome()
    if not changes:
        return outcome
    definitions = repository.load_definitions(conn, {c.key for c in changes})
    named = {
        (c.agent_id, occurrence)
        for c in changes
        if (occurrence := text(c.event.context.get("occurrence"))) is not None
    }
    occurrences = repository.load_occurrences(conn, named)
    for change in changes:
        if _malformed(change):
            continue
        definition = definitions.get(change.key)
        if definition is None:
            definition = definitions[change.key] = Definition(*change.key)
        through = _through(conn, change, occurrences)
        t = _decide(conn, change, definition, through or _stand_in(change))
        if t is None:
            continue
        outcome.definitions[change.key] = definition
        if through is None:
            outcome.definition_audits.append(_definition_audit(change, t))
        else:
            outcome.transitions.append(t)
    return outcome


def _malformed(change: _Change) -> bool:
    kind = change.event.type
    if kind is EventType.ALARM_FLAG:
        return change.flag is None
    if kind is EventType.ALARM_SHELVED or change.expired:
        return change.until is None
    return False


def _decide(
    conn: Connection, change: _Change, definition: Definition, through: Occurrence
) -> Transition | None:
    """Apply the change to ``definition`` or keep it as ignored; None: nothing to record."""
    actor, channel, at = change.actor, change.channel, change.at

    def ignore(reason: str) -> Transition:
        return lifecycle.ignored(
            definition,
            through,
            action=change.verb(),
            actor=actor,
            channel=channel,
            at=at,
            reason=reason,
        )

    if change.expired:
        in_force = definition.shelved_until
        if in_force is None:
            return None  # the hub's shelve timer ended it already (and recorded that)
        if in_force != change.until:
            return ignore(f"the hub has another shelve in force, until {in_force.isoformat()}")
        return lifecycle.unshelve(
            definition,
            through,
            reason="shelve expired at the agent",
            actor=actor,
            channel=channel,
            at=at,
            expired=True,
        )
    actions = SHELVE_ACTIONS if change.flag is None else FLAG_ACTIONS[change.flag]
    first = repository.last_change(conn, change.agent_id, change.rule, actions, HUB_CHANNELS)
    if first is not None and (change.seen is None or first[0] > change.seen):
        return ignore(f"changed at the hub first, by {first[1]} at {first[0].isoformat()}")
    if change.flag is not None:
        flag, on = change.flag, change.on
        if getattr(definition, flag) == on:
            state = flag.replace("_", " ")
            return ignore(f"already {state if on else 'not ' + state} at the hub")
        return lifecycle.set_flag(
            definition,
            through,
            flag=flag,
            on=on,
            reason=change.reason,
            actor=actor,
            channel=channel,
            at=at,
        )
    if change.event.type is EventType.ALARM_SHELVED:
        assert change.until is not None  # see _malformed
        return lifecycle.shelve(
            definition,
            through,
            until=change.until,
            reason=change.reason or "",
            actor=actor,
            channel=channel,
            at=at,
        )
    if not definition.shelved(at):
        return ignore("not shelved at the hub")
    return lifecycle.unshelve(
        definition, through, reason=change.reason, actor=actor, channel=channel, at=at
    )


def _through(
    conn: Connection, change: _Change, occurrences: dict[tuple[str, str], Occurrence]
) -> Occurrence | None:
    """The occurrence the agent named, if the hub has it, else the alarm's newest, if any."""
    named = text(change.event.context.get("occurrence"))
    if named is not None and (found := occurrences.get((change.agent_id, named))) is not None:
        return found
    return repository.latest_occurrence(conn, change.agent_id, change.rule)


def _stand_in(change: _Change) -> Occurrence:
    """For an alarm without occurrences at the hub: lifecycle changes a definition through an
    occurrence, and this one only carries the alarm's name and place into the audit entry."""
    where = location_of(change.event)
    return Occurrence(
        agent_id=change.agent_id,
        occurrence="",
        rule=change.rule,
        tag=change.event.tag,
        severity=None,
        category=None,
        site=where.site,
        area=where.area,
        line=where.line,
        value=None,
        raised_at=change.at,
    )


def _definition_audit(change: _Change, t: Transition) -> AuditEntry:
    where = location_of(change.event)
    return AuditEntry(
        actor=t.actor,
        action=f"alarm.{t.action}",
        object_type="alarm_definition",
        object_id=f"{change.agent_id}:{change.rule}",
        before=t.before,
        after=t.after,
        reason=t.reason,
        data={"agent_id": change.agent_id, "rule": change.rule, "channel": t.channel.value},
        site=where.site,
        area=where.area,
    )


def _time(value: Scalar) -> datetime | None:
    """An ISO-8601 time with its zone, or None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
