"""Local alarm occurrences: each activation of a rule's condition is a new occurrence with its id.

This first version tracks active/returned only; acknowledgement, shelving and the full
ISA-18.2 state machine build on the same occurrence ids.
"""

from __future__ import annotations

import uuid

from edge_agent.buffer import Draft
from edge_agent.detect import Transition
from protocols.wire import EventType, Quality


class AlarmBook:
    """Turns detector transitions into alarm events that carry their occurrence id."""

    def __init__(self) -> None:
        self._active: dict[str, str] = {}

    @property
    def active(self) -> dict[str, str]:
        """Active occurrence id by rule name."""
        return dict(self._active)

    def draft(self, transition: Transition) -> Draft:
        if transition.active:
            occurrence = uuid.uuid4().hex
            self._active[transition.rule] = occurrence
            event_type = EventType.ALARM_RAISED
        else:
            occurrence = self._active.pop(transition.rule, "")
            event_type = EventType.ALARM_CLEARED
        return Draft(
            type=event_type,
            source_time=transition.time,
            tag=transition.tag,
            value=transition.value,
            quality=Quality.GOOD,
            rule=transition.rule,
            severity=transition.severity,
            category=transition.category,
            context={"occurrence": occurrence, "limit": transition.limit},
        )
