"""Detection rules, evaluated incrementally per reading: pure code, no I/O, no clock of its own.

A detector sees each reading of its tag once and says which of its alarm conditions became
active or returned to normal. Time comes from the readings, so tests replay any timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from edge_agent.rule_config import ThresholdRule
from protocols.base import Reading
from protocols.wire import Category, Quality, Severity

_DEFAULT_SEVERITY = {
    "hihi": Severity.CRITICAL,
    "hi": Severity.HIGH,
    "lo": Severity.HIGH,
    "lolo": Severity.CRITICAL,
}


@dataclass(frozen=True, slots=True)
class Transition:
    """An alarm condition changed: ``active`` True means raised, False means returned to normal."""

    rule: str
    tag: str
    active: bool
    value: float
    limit: float
    time: datetime
    severity: Severity
    category: Category


@dataclass(slots=True)
class _Level:
    """One limit of a threshold rule and its debounce state."""

    rule: str
    limit: float
    high: bool
    severity: Severity
    active: bool = False
    pending_since: datetime | None = None

    def beyond(self, value: float, deadband: float) -> bool:
        """Whether the value is in alarm; once active, it must come back by the deadband."""
        margin = deadband if self.active else 0.0
        return value > self.limit - margin if self.high else value < self.limit + margin


class ThresholdDetector:
    """hi / hihi / lo / lolo limits with deadband, on-delay and off-delay.

    The on- and off-delays are measured between readings: with a poll every second, a 2 s
    on-delay raises on the third reading beyond the limit. Readings of bad quality or without a
    number leave the state as it is (communication loss is its own rule).
    """

    def __init__(self, rule: ThresholdRule) -> None:
        self.tag = rule.tag
        self._deadband = rule.deadband
        self._on_delay = rule.on_delay
        self._off_delay = rule.off_delay
        self._category = rule.category
        self._levels = [
            _Level(
                rule=f"{rule.rule_name}.{level}",
                limit=limit,
                high=level.startswith("hi"),
                severity=rule.severity or _DEFAULT_SEVERITY[level],
            )
            for level, limit in rule.limits().items()
        ]

    def update(self, reading: Reading) -> list[Transition]:
        value = reading.value
        if reading.quality is Quality.BAD or isinstance(value, (bool, str)) or value is None:
            return []
        transitions = []
        for level in self._levels:
            wants_active = level.beyond(value, self._deadband)
            if wants_active == level.active:
                level.pending_since = None
                continue
            if level.pending_since is None:
                level.pending_since = reading.source_time
            delay = self._on_delay if wants_active else self._off_delay
            if (reading.source_time - level.pending_since).total_seconds() < delay:
                continue
            level.active = wants_active
            level.pending_since = None
            transitions.append(
                Transition(
                    rule=level.rule,
                    tag=self.tag,
                    active=wants_active,
                    value=float(value),
                    limit=level.limit,
                    time=reading.source_time,
                    severity=level.severity,
                    category=self._category,
                )
            )
        return transitions
