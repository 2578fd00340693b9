"""What every detector shares: the Transition it reports, the Detector interface, the
debounced condition and the clock mapping (see the package docstring for the clock rules)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from protocols.base import Reading
from protocols.wire import Category, Quality, Scalar, Severity

DEFAULT_SEVERITY = {
    "hihi": Severity.CRITICAL,
    "hi": Severity.HIGH,
    "lo": Severity.HIGH,
    "lolo": Severity.CRITICAL,
}
BAD = Quality.BAD
HISTORY_SLOTS = 64
"""Windows keep about this many samples: memory per rule stays bounded at any reading rate."""


@dataclass(frozen=True, slots=True)
class Transition:
    """An alarm condition changed: ``active`` True means raised, False means returned to normal.

    Args:
        rule: The alarm id, ``NAME`` or ``NAME.CONDITION`` (see ``edge_agent.rule_config``).
        tag: The tag whose readings decided it.
        active: Raised (True) or returned to normal (False).
        value: What was measured: the value, rate, statistic or lot, per the rule's message.
        limit: What it was compared with (None where nothing numeric applies).
        time: When it changed, on the clock the rule runs on (see the module docstring).
        severity: From the rule, else the kind's default.
        category: From the rule, else the kind's default.
        message: One line for people, e.g. ``press.temperature 85.2 above hi 80``.
    """

    rule: str
    tag: str
    active: bool
    value: Scalar
    limit: Scalar
    time: datetime
    severity: Severity
    category: Category
    message: str = ""


class Detector(Protocol):
    """One rule's incremental evaluation.

    ``update`` must be given every reading of every tag in ``tags`` and no other, in arrival
    order; ``tick`` the agent's clock about once a second, and at
    once after the plan book's plans or holds were replaced.
    """

    name: str
    tags: frozenset[str]

    def update(self, reading: Reading) -> list[Transition]: ...

    def tick(self, now: datetime) -> list[Transition]: ...

    def resume(self, active: Set[str]) -> list[str]:
        """Start with the conditions whose alarm ids are in ``active`` already active (they were
        when the agent stopped), so that a condition still there continues its occurrence and
        one that is gone returns it to normal, with the usual deadband and delays; returns the
        alarm ids taken over. Call once, before the first reading."""
        ...


def resume_conditions(conditions: Iterable[Condition], active: Set[str]) -> list[str]:
    """Mark the conditions named in ``active`` active; returns their alarm ids."""
    resumed = []
    for condition in conditions:
        if condition.rule in active:
            condition.active = True
            resumed.append(condition.rule)
    return resumed


def number_of(reading: Reading) -> float | None:
    """The reading as a number value rules may judge, or None (bad, missing, text, NaN)."""
    value = reading.value
    if reading.quality is BAD or value is None or isinstance(value, (bool, str)):
        return None
    # A float register holding NaN or infinity is a sensor fault, not a process value.
    return value if math.isfinite(value) else None


def fmt(value: Scalar) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 1e6 else f"{value:.6g}"
    return str(value)


def fmt_duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}min"
    return f"{seconds:g}s"


class Condition:
    """One alarm condition (one alarm id) and its on/off-delay debounce.

    ``observe`` follows what the latest value wants; a change that must wait for its delay is
    kept as a ``deadline`` and completed by ``due`` once a later time reaches it.
    """

    __slots__ = ("active", "deadline", "off_delay", "on_delay", "rule", "severity")

    def __init__(self, rule: str, severity: Severity, on_delay: float, off_delay: float) -> None:
        self.rule = rule
        self.severity = severity
        self.on_delay = timedelta(seconds=on_delay)
        self.off_delay = timedelta(seconds=off_delay)
        self.active = False
        self.deadline: datetime | None = None

    def observe(self, wants: bool, at: datetime) -> bool:
        """Whether the state flipped at ``at``; call ``due(at)`` first."""
        if wants == self.active:  # == not is: a PlanBook may answer 1 for True
            self.deadline = None
            return False
        if self.deadline is None:
            delay = self.on_delay if wants else self.off_delay
            if not delay:
                self.active = wants
                return True
            self.deadline = at + delay
        return False

    def due(self, at: datetime) -> datetime | None:
        """Complete a pending change whose delay ran out by ``at``; returns when it did."""
        deadline = self.deadline
        if deadline is None or at < deadline:
            return None
        self.active = not self.active
        self.deadline = None
        return deadline


class SourceClock:
    """Maps the agent's clock onto the clock of the tag's device, by the last good reading."""

    __slots__ = ("_rx", "_src")

    def __init__(self) -> None:
        self._src: datetime | None = None
        self._rx: datetime | None = None

    def seen(self, reading: Reading) -> datetime:
        self._src = reading.source_time
        self._rx = reading.receive_time
        return reading.source_time

    def source_time(self, agent_time: datetime) -> datetime:
        """``agent_time`` on the device's clock (the same, before any reading)."""
        if self._src is None or self._rx is None:
            return agent_time
        return agent_time + (self._src - self._rx)

    def lost(self, reading: Reading) -> datetime:
        """When a bad reading happened on the device clock.

        The agent stamps comm-loss readings with its own clock in both fields, so its arrival
        time is mapped rather than its source time trusted.
        """
        return self.source_time(reading.receive_time)
