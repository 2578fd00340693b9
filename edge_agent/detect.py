"""Detection rules, evaluated incrementally per reading: pure code, no I/O, no clock of its own.

A detector sees each reading of its tags once and says which of its alarm conditions became
active or returned to normal. Time comes from the readings and from ``tick(now)``, which the
agent calls about once a second with its own clock, so that delays, ages and plans complete
even when a device reports by exception and then stays silent. Tests replay any timeline.

Clocks: a device's ``source_time`` may be off from the agent's clock. Rules that measure a
device's own signal (threshold, rate of change, state, drift, lot on hold) run on the source
clock and map ``tick(now)`` onto it with the offset of the tag's last reading. Rules that
compare with the agent's world (stale ages, plans) run on the agent clock: ``receive_time`` and
``now``. ``Transition.time`` is on the clock the rule runs on.

Delays follow a held-value model: a reading's value holds until the next reading, so a delay
completes at exactly ``start + delay``, whether a later reading or a tick notices it first; the
outcome does not depend on how often ticks come. A bad-quality reading ends the held value: it
cancels pending delays and leaves active alarms as they are (communication loss is the stale
rule's business), and value rules never raise or clear on it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, assert_never

from edge_agent.plans import PlanBook
from edge_agent.rule_config import (
    PER_SECONDS,
    DriftRule,
    LotOnHoldRule,
    PlanDeviationRule,
    RateOfChangeRule,
    Rule,
    StaleRule,
    StateRule,
    ThresholdRule,
)
from protocols.base import Reading
from protocols.wire import Category, Quality, Scalar, Severity

_DEFAULT_SEVERITY = {
    "hihi": Severity.CRITICAL,
    "hi": Severity.HIGH,
    "lo": Severity.HIGH,
    "lolo": Severity.CRITICAL,
}
_BAD = Quality.BAD
_HISTORY_SLOTS = 64
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


def build_detectors(rules: Sequence[Rule], plans: PlanBook) -> list[Detector]:
    """A detector per rule, in rule order.

    Raises:
        ValueError: Two rules share a name (the agent config refuses this earlier, with a path).
    """
    names: set[str] = set()
    detectors: list[Detector] = []
    for rule in rules:
        if rule.rule_name in names:
            raise ValueError(f"rule {rule.rule_name!r} is defined twice")
        names.add(rule.rule_name)
        detectors.append(_detector(rule, plans))
    return detectors


def by_tag(detectors: Iterable[Detector]) -> dict[str, list[Detector]]:
    """The detectors each tag's readings go to: what a pipeline dispatches readings with."""
    routes: dict[str, list[Detector]] = {}
    for detector in detectors:
        for tag in sorted(detector.tags):
            routes.setdefault(tag, []).append(detector)
    return routes


def _detector(rule: Rule, plans: PlanBook) -> Detector:
    match rule:
        case ThresholdRule():
            return ThresholdDetector(rule)
        case RateOfChangeRule():
            return RateOfChangeDetector(rule)
        case StaleRule():
            return StaleDetector(rule)
        case StateRule():
            return StateDetector(rule)
        case PlanDeviationRule():
            return PlanDeviationDetector(rule, plans)
        case DriftRule():
            return DriftDetector(rule)
        case LotOnHoldRule():
            return LotOnHoldDetector(rule, plans)
        case _:
            assert_never(rule)


def _number(reading: Reading) -> float | None:
    """The reading as a number value rules may judge, or None (bad, missing, text, NaN)."""
    value = reading.value
    if reading.quality is _BAD or value is None or isinstance(value, (bool, str)):
        return None
    # A float register holding NaN or infinity is a sensor fault, not a process value.
    return value if math.isfinite(value) else None


def _fmt(value: Scalar) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 1e6 else f"{value:.6g}"
    return str(value)


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}min"
    return f"{seconds:g}s"


class _Condition:
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


class _SourceClock:
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


class _Level(_Condition):
    """One limit of a threshold rule."""

    __slots__ = ("clear_at", "high", "level", "limit")

    def __init__(self, rule: ThresholdRule, level: str, limit: float) -> None:
        severity = rule.severity or _DEFAULT_SEVERITY[level]
        super().__init__(f"{rule.rule_name}.{level}", severity, rule.on_delay, rule.off_delay)
        self.level = level
        self.limit = limit
        self.high = level.startswith("hi")
        # Once active, the value must come back past the limit by the deadband to clear.
        self.clear_at = limit - rule.deadband if self.high else limit + rule.deadband


class ThresholdDetector:
    """hi / hihi / lo / lolo limits with deadband, on-delay and off-delay.

    With a poll every second, a 2 s on-delay raises on the third reading beyond the limit; with a
    device that sends one value and then nothing, on the first tick 2 s later.
    """

    def __init__(self, rule: ThresholdRule) -> None:
        self.name = rule.rule_name
        self.tag = rule.tag
        self.tags = frozenset((rule.tag,))
        self._category = rule.category
        self._clock = _SourceClock()
        self._value = 0.0
        self._levels = [_Level(rule, level, limit) for level, limit in rule.limits().items()]

    def update(self, reading: Reading) -> list[Transition]:
        value = _number(reading)
        if value is None:
            return self._lost(reading)
        t = self._clock.seen(reading)
        transitions: list[Transition] = []
        for level in self._levels:
            if level.deadline is not None and (at := level.due(t)) is not None:
                transitions.append(self._transition(level, self._value, at))
            if level.active:
                wants = value > level.clear_at if level.high else value < level.clear_at
            else:
                wants = value > level.limit if level.high else value < level.limit
            if level.observe(wants, t):
                transitions.append(self._transition(level, value, t))
        self._value = value
        return transitions

    def tick(self, now: datetime) -> list[Transition]:
        return self._due(self._clock.source_time(now))

    def _lost(self, reading: Reading) -> list[Transition]:
        transitions = self._due(self._clock.lost(reading))
        for level in self._levels:
            level.deadline = None
        return transitions

    def _due(self, t: datetime) -> list[Transition]:
        return [
            self._transition(level, self._value, at)
            for level in self._levels
            if (at := level.due(t)) is not None
        ]

    def _transition(self, level: _Level, value: float, at: datetime) -> Transition:
        side = "above" if level.high else "below"
        verb = side if level.active else f"no longer {side}"
        return Transition(
            rule=level.rule,
            tag=self.tag,
            active=level.active,
            value=float(value),
            limit=level.limit,
            time=at,
            severity=level.severity,
            category=self._category,
            message=f"{self.tag} {_fmt(float(value))} {verb} {level.level} {_fmt(level.limit)}",
        )


class RateOfChangeDetector:
    """Change per second/minute/hour over a window, rising, falling or both (see the rule)."""

    def __init__(self, rule: RateOfChangeRule) -> None:
        self.name = rule.rule_name
        self.tag = rule.tag
        self.tags = frozenset((rule.tag,))
        self._category = rule.category
        self._limit = rule.limit
        self._deadband = rule.deadband
        self._per = rule.per
        self._window = timedelta(seconds=rule.window)
        self._bucket = timedelta(seconds=rule.window / _HISTORY_SLOTS)
        self._scale = PER_SECONDS[rule.per] / rule.window
        self._clock = _SourceClock()
        self._history: deque[tuple[datetime, float]] = deque()
        self._rate = 0.0
        severity = rule.severity or Severity.HIGH
        # (condition, sign): the falling condition judges the negated rate against the limit.
        self._conditions = [
            (_Condition(f"{self.name}.{direction}", severity, rule.on_delay, rule.off_delay), sign)
            for direction, sign in (("rising", 1.0), ("falling", -1.0))
            if rule.direction in (direction, "both")
        ]

    def update(self, reading: Reading) -> list[Transition]:
        value = _number(reading)
        if value is None:
            return self._lost(reading)
        t = self._clock.seen(reading)
        transitions = self._due(t)
        history = self._history
        if history and t < history[-1][0]:
            return transitions  # out of order (e.g. a replayed MQTT message): the past is done
        # The newest sample replaces the one before it until that one is a bucket younger than
        # its predecessor: kept samples are a bucket apart, so a fast tag cannot grow memory.
        if len(history) >= 2 and history[-1][0] - history[-2][0] < self._bucket:
            history[-1] = (t, value)
        else:
            history.append((t, value))
        self._evaluate(t, transitions)
        return transitions

    def tick(self, now: datetime) -> list[Transition]:
        t = self._clock.source_time(now)
        transitions = self._due(t)
        # A held value ages out of the window: a jump followed by silence clears in time.
        if self._history and t >= self._history[-1][0]:
            self._evaluate(t, transitions)
        return transitions

    def _evaluate(self, t: datetime, transitions: list[Transition]) -> None:
        start = t - self._window
        history = self._history
        while len(history) >= 2 and history[1][0] <= start:
            history.popleft()
        if history[0][0] > start:
            return  # less than a full window of good readings: hold the state
        self._rate = rate = (history[-1][1] - history[0][1]) * self._scale
        for condition, sign in self._conditions:
            bar = self._limit - self._deadband if condition.active else self._limit
            if condition.observe(rate * sign > bar, t):
                transitions.append(self._transition(condition, t))

    def _lost(self, reading: Reading) -> list[Transition]:
        transitions = self._due(self._clock.lost(reading))
        # The held value is unknown from here: measure anew from the next good reading.
        self._history.clear()
        for condition, _ in self._conditions:
            condition.deadline = None
        return transitions

    def _due(self, t: datetime) -> list[Transition]:
        return [
            self._transition(condition, at)
            for condition, _ in self._conditions
            if (at := condition.due(t)) is not None
        ]

    def _transition(self, condition: _Condition, at: datetime) -> Transition:
        direction = condition.rule.rsplit(".", 1)[1]
        state = "" if condition.active else "no longer "
        return Transition(
            rule=condition.rule,
            tag=self.tag,
            active=condition.active,
            value=self._rate,
            limit=self._limit if direction == "rising" else -self._limit,
            time=at,
            severity=condition.severity,
            category=self._category,
            message=(
                f"{self.tag} {state}{direction} fast: {_fmt(self._rate)}/{self._per} "
                f"(limit {_fmt(self._limit)}/{self._per})"
            ),
        )


_UNSEEN = object()


class StaleDetector:
    """No fresh reading for ``max_age`` and bad quality for ``bad_for``, on the agent's clock."""

    def __init__(self, rule: StaleRule) -> None:
        self.name = rule.rule_name
        self.tag = rule.tag
        self.tags = frozenset((rule.tag,))
        self._category = rule.category
        self._max_age = None if rule.max_age is None else timedelta(seconds=rule.max_age)
        self._bad_for = None if rule.bad_for is None else timedelta(seconds=rule.bad_for)
        self._require_change = rule.require_change
        self._stale = _Condition(f"{self.name}.stale", rule.severity or Severity.MEDIUM, 0, 0)
        self._bad = _Condition(f"{self.name}.bad", rule.severity or Severity.HIGH, 0, 0)
        self._fresh_at: datetime | None = None
        self._bad_since: datetime | None = None
        self._value: object = _UNSEEN

    def update(self, reading: Reading) -> list[Transition]:
        t = reading.receive_time
        transitions = self._due(t)
        if reading.quality is _BAD:
            if self._bad_since is None:
                self._bad_since = t
            transitions.extend(self._due(t))  # bad_for: 0 raises on the first bad reading
            return transitions
        self._bad_since = None
        if self._bad.active:
            self._bad.active = False
            transitions.append(self._transition(self._bad, t))
        if not self._require_change or reading.value != self._value:
            self._fresh_at = t
            self._value = reading.value
            if self._stale.active:
                self._stale.active = False
                transitions.append(self._transition(self._stale, t))
        return transitions

    def tick(self, now: datetime) -> list[Transition]:
        if self._fresh_at is None:
            self._fresh_at = now  # a tag that never reports goes stale max_age after start
        return self._due(now)

    def _due(self, t: datetime) -> list[Transition]:
        transitions = []
        for condition, since, delay in (
            (self._stale, self._fresh_at, self._max_age),
            (self._bad, self._bad_since, self._bad_for),
        ):
            if condition.active or since is None or delay is None or t < since + delay:
                continue
            condition.active = True
            transitions.append(self._transition(condition, since + delay))
        return transitions

    def _transition(self, condition: _Condition, at: datetime) -> Transition:
        value = None if self._value is _UNSEEN else self._value
        if condition is self._stale:
            age = self._max_age.total_seconds() if self._max_age else 0.0
            what = "no change" if self._require_change else "no new reading"
            message = (
                f"{self.tag}: {what} for {_duration(age)}"
                if condition.active
                else f"{self.tag} is updating again"
            )
        else:
            age = self._bad_for.total_seconds() if self._bad_for else 0.0
            message = (
                f"{self.tag}: bad quality for {_duration(age)}"
                if condition.active
                else f"{self.tag}: quality good again"
            )
        return Transition(
            rule=condition.rule,
            tag=self.tag,
            active=condition.active,
            value=value if isinstance(value, (bool, int, float, str)) else None,
            limit=age,
            time=at,
            severity=condition.severity,
            category=self._category,
            message=message,
        )


class StateDetector:
    """A discrete state tag in one of ``states`` for ``min_duration`` (see the rule)."""

    def __init__(self, rule: StateRule) -> None:
        self.name = rule.rule_name
        self.tag = rule.tag
        self.tags = frozenset((rule.tag,))
        self._category = rule.category
        self._states = frozenset(rule.states)
        self._min_duration = rule.min_duration
        self._clock = _SourceClock()
        self._condition = _Condition(
            self.name, rule.severity or Severity.HIGH, rule.min_duration, rule.off_delay
        )
        self._value: Scalar = None

    def update(self, reading: Reading) -> list[Transition]:
        if reading.quality is _BAD or reading.value is None:
            transitions = self._due(self._clock.lost(reading))
            self._condition.deadline = None
            return transitions
        t = self._clock.seen(reading)
        transitions = self._due(t)
        value = reading.value
        if self._condition.observe(value in self._states, t):
            transitions.append(self._transition(value, t))
        self._value = value
        return transitions

    def tick(self, now: datetime) -> list[Transition]:
        return self._due(self._clock.source_time(now))

    def _due(self, t: datetime) -> list[Transition]:
        at = self._condition.due(t)
        return [] if at is None else [self._transition(self._value, at)]

    def _transition(self, value: Scalar, at: datetime) -> Transition:
        if self._condition.active:
            held = f" for {_duration(self._min_duration)}" if self._min_duration else ""
            message = f"{self.tag} is {_fmt(value)}{held}"
        else:
            message = f"{self.tag} left {', '.join(map(_fmt, self._states))}: now {_fmt(value)}"
        return Transition(
            rule=self.name,
            tag=self.tag,
            active=self._condition.active,
            value=value,
            limit=self._min_duration,
            time=at,
            severity=self._condition.severity,
            category=self._category,
            message=message,
        )


class DriftDetector:
    """EWMA or CUSUM against a target and sigma; one alarm per direction (see the rule)."""

    def __init__(self, rule: DriftRule) -> None:
        self.name = rule.rule_name
        self.tag = rule.tag
        self.tags = frozenset((rule.tag,))
        self._category = rule.category
        self._clock = _SourceClock()
        self._ewma = rule.method == "ewma"
        self._target = rule.target
        self._sigma = rule.sigma
        self._lambda = rule.lambda_
        self._width = rule.L * rule.sigma * math.sqrt(rule.lambda_ / (2 - rule.lambda_))
        self._decay = (1 - rule.lambda_) ** 2
        self._k = rule.k
        self._h = rule.h
        severity = rule.severity or Severity.MEDIUM
        self._high = _Condition(f"{self.name}.high", severity, 0, 0)
        self._low = _Condition(f"{self.name}.low", severity, 0, 0)
        self._z = rule.target
        self._decayed = 1.0  # (1 - lambda)^(2n): the EWMA limits widen to their asymptote
        self._up = 0.0  # CUSUM C+, in sigma
        self._down = 0.0  # CUSUM C-, in sigma

    def update(self, reading: Reading) -> list[Transition]:
        value = _number(reading)
        if value is None:
            return []  # no statistic moves on a value we do not have
        t = self._clock.seen(reading)
        return self._ewma_step(value, t) if self._ewma else self._cusum_step(value, t)

    def tick(self, now: datetime) -> list[Transition]:
        return []  # the statistics move per reading only

    def _ewma_step(self, value: float, t: datetime) -> list[Transition]:
        self._z = z = self._lambda * value + (1 - self._lambda) * self._z
        self._decayed *= self._decay
        width = self._width * math.sqrt(1 - self._decayed)
        transitions = []
        for condition, limit, beyond in (
            (self._high, self._target + width, z > self._target + width),
            (self._low, self._target - width, z < self._target - width),
        ):
            if condition.observe(beyond, t):
                transitions.append(self._transition(condition, z, limit, value, t))
        if transitions and not (self._high.active or self._low.active):
            # Cleared: restart from target so the next alarm needs new evidence, not leftovers.
            self._z, self._decayed = self._target, 1.0
        return transitions

    def _cusum_step(self, value: float, t: datetime) -> list[Transition]:
        step = (value - self._target) / self._sigma
        # Capped at 2h: after a long excursion the alarm still clears within about h/k readings
        # of the process coming back, instead of paying back every reading of the excursion.
        self._up = min(max(0.0, self._up + step - self._k), 2 * self._h)
        self._down = min(max(0.0, self._down - step - self._k), 2 * self._h)
        transitions = []
        if self._high.observe(self._up > self._h, t):
            transitions.append(self._transition(self._high, self._up, self._h, value, t))
            if not self._high.active:
                self._up = 0.0
        if self._low.observe(self._down > self._h, t):
            transitions.append(self._transition(self._low, self._down, self._h, value, t))
            if not self._low.active:
                self._down = 0.0
        return transitions

    def _transition(
        self, condition: _Condition, statistic: float, limit: float, value: float, at: datetime
    ) -> Transition:
        direction = "high" if condition is self._high else "low"
        if self._ewma:
            measure = f"EWMA {_fmt(statistic)} vs limit {_fmt(limit)}"
        else:
            measure = f"CUSUM {_fmt(statistic)} sigma vs h {_fmt(limit)}"
        head = f"drifting {direction}" if condition.active else f"back from drifting {direction}"
        return Transition(
            rule=condition.rule,
            tag=self.tag,
            active=condition.active,
            value=statistic,
            limit=limit,
            time=at,
            severity=condition.severity,
            category=self._category,
            message=(
                f"{self.tag} {head}: {measure} (target {_fmt(self._target)}, "
                f"sigma {_fmt(self._sigma)}, last {_fmt(value)})"
            ),
        )


def _lot(value: Scalar) -> str | None:
    """A lot id from a text tag (or a whole-number register); None when there is none."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


class LotOnHoldDetector:
    """The lot in the lot tag is on the hold list; re-checked on each tick (see the rule)."""

    def __init__(self, rule: LotOnHoldRule, plans: PlanBook) -> None:
        self.name = rule.rule_name
        self.tag = rule.tag
        self.tags = frozenset((rule.tag,))
        self._category = rule.category
        self._plans = plans
        self._clock = _SourceClock()
        self._condition = _Condition(self.name, rule.severity or Severity.HIGH, 0, 0)
        self._lot: str | None = None
        self._seen = False

    def update(self, reading: Reading) -> list[Transition]:
        if reading.quality is _BAD or reading.value is None:
            return []  # keep judging the last lot we know
        self._seen = True
        self._lot = _lot(reading.value)
        return self._evaluate(self._clock.seen(reading))

    def tick(self, now: datetime) -> list[Transition]:
        # Ticks carry hold-list changes: the lot may stay while the list around it changes.
        return self._evaluate(self._clock.source_time(now)) if self._seen else []

    def _evaluate(self, t: datetime) -> list[Transition]:
        lot = self._lot
        on_hold = lot is not None and self._plans.on_hold(lot)
        if not self._condition.observe(on_hold, t):
            return []
        state = "is on quality hold" if on_hold else "is no longer on hold"
        return [
            Transition(
                rule=self.name,
                tag=self.tag,
                active=self._condition.active,
                value=lot,
                limit=None,
                time=t,
                severity=self._condition.severity,
                category=self._category,
                message=f"lot {lot} on {self.tag} {state}" if lot else f"{self.tag}: no lot",
            )
        ]


class PlanDeviationDetector:
    """Output behind plan over a window, and stopped while planned to run (see the rule).

    Runs on the agent's clock. The detector keeps three running totals from its first reading:
    good count made, count planned and seconds covered by a plan entry; a bounded history of
    samples of them gives every total over the trailing window by one subtraction.
    """

    def __init__(self, rule: PlanDeviationRule, plans: PlanBook) -> None:
        self.name = rule.rule_name
        self.tag = rule.tag
        self.state_tag = rule.state_tag
        self.tags = frozenset(t for t in (rule.tag, rule.state_tag) if t is not None)
        self._line = rule.line
        self._plans = plans
        self._category = rule.category
        self._counter_max = rule.counter_max
        self._window = timedelta(seconds=rule.window)
        self._window_s = rule.window
        self._bucket = timedelta(seconds=rule.window / _HISTORY_SLOTS)
        self._keep = 1 - rule.behind_percent / 100
        self._stopped_states = frozenset(rule.stopped_states or ())
        self._min_duration = rule.min_duration
        self._behind = _Condition(
            f"{self.name}.behind", rule.severity or Severity.MEDIUM, rule.on_delay, rule.off_delay
        )
        self._stopped = _Condition(
            f"{self.name}.stopped", rule.severity or Severity.HIGH, rule.min_duration, 0
        )
        self._last_count: float | None = None
        self._counting_since: datetime | None = None
        self._made = 0.0
        self._planned = 0.0
        self._covered = 0.0
        self._integrated_to: datetime | None = None
        # (time, made, planned, covered seconds), one per bucket: the window's left edge.
        self._history: deque[tuple[datetime, float, float, float]] = deque()
        self._state: Scalar = None
        self._state_good = False
        self._rates = (0.0, 0.0)  # actual, planned per hour, as last judged

    def update(self, reading: Reading) -> list[Transition]:
        tag = reading.tag
        if tag != self.tag and tag != self.state_tag:
            return []
        t = reading.receive_time
        transitions = self._advance(t)
        good = reading.quality is not _BAD and reading.value is not None
        if tag == self.tag:
            count = _number(reading)
            if count is None:
                # Counting resumes at the next good reading: the counter kept counting meanwhile,
                # but a window that spans the gap is not judged.
                self._counting_since = None
                self._behind.deadline = None
            else:
                self._count(count, t)
        else:
            self._state_good = good
            if good:
                self._state = reading.value
            else:
                self._stopped.deadline = None
        self._record(t)
        self._evaluate(t, transitions)
        return transitions

    def tick(self, now: datetime) -> list[Transition]:
        transitions = self._advance(now)
        self._record(now)
        self._evaluate(now, transitions)
        return transitions

    def _count(self, count: float, t: datetime) -> None:
        last = self._last_count
        self._last_count = count
        if self._counting_since is None:
            self._counting_since = t
        if last is not None:
            self._made += count - last if count >= last else self._unwrap(last, count)

    def _unwrap(self, last: float, count: float) -> float:
        """What was made when the counter went down from ``last`` to ``count``."""
        if self._counter_max is not None:
            wrapped = self._counter_max + 1 - last + count
            # A wrap is a short step past the top; anything longer is a reset to zero.
            if wrapped <= (self._counter_max + 1) / 2:
                return wrapped
        # A reset (shift change, PLC restart): the new value is what was made since.
        return count

    def _advance(self, t: datetime) -> list[Transition]:
        """Integrate the plan up to ``t`` and complete delays that ran out before it."""
        start = self._integrated_to
        if start is None or t > start:
            self._integrated_to = t
        if start is not None:
            while start < t:
                entry = self._plans.current(self._line, start)
                if entry is None:
                    break  # no plan until t (a plan starting inside a tick is one tick late)
                end = min(entry.end, t)
                if end <= start:
                    break
                seconds = (end - start).total_seconds()
                self._planned += entry.planned_rate_per_hour * seconds / 3600
                self._covered += seconds
                start = end
        transitions = []
        for condition in (self._behind, self._stopped):
            if (at := condition.due(t)) is not None:
                transitions.append(self._transition(condition, at))
        return transitions

    def _record(self, t: datetime) -> None:
        history = self._history
        sample = (t, self._made, self._planned, self._covered)
        if history and t < history[-1][0]:
            return
        if len(history) >= 2 and history[-1][0] - history[-2][0] < self._bucket:
            history[-1] = sample  # one sample per bucket, as in RateOfChangeDetector
        else:
            history.append(sample)

    def _evaluate(self, t: datetime, transitions: list[Transition]) -> None:
        history = self._history
        start = t - self._window
        while len(history) >= 2 and history[1][0] <= start:
            history.popleft()
        since = self._counting_since
        if since is not None and since <= start and history[0][0] <= start:
            edge, made, planned, covered = history[0]
            span = (t - edge).total_seconds()
            planned_in = self._planned - planned
            # Judge a window only when the plan covers all of it: the first window of a run is
            # ramp-up grace, and a window with no plan has nothing to be behind.
            judged = self._covered - covered >= span * 0.999 and planned_in > 0
            made_in = self._made - made
            self._rates = (made_in * 3600 / span, planned_in * 3600 / span)
            if self._behind.observe(judged and made_in < planned_in * self._keep, t):
                transitions.append(self._transition(self._behind, t))
        if self.state_tag is not None and self._state_good:
            entry = self._plans.current(self._line, t)
            running = entry is not None and entry.planned_rate_per_hour > 0
            if self._stopped.observe(running and self._state in self._stopped_states, t):
                transitions.append(self._transition(self._stopped, t))

    def _transition(self, condition: _Condition, at: datetime) -> Transition:
        if condition is self._behind:
            actual, planned = self._rates
            short = 1 - actual / planned if planned else 0.0
            state = "behind plan" if condition.active else "back on plan"
            return Transition(
                rule=condition.rule,
                tag=self.tag,
                active=condition.active,
                value=round(actual, 3),
                limit=round(planned, 3),
                time=at,
                severity=condition.severity,
                category=self._category,
                message=(
                    f"line {self._line} {state}: {actual:.0f}/h over "
                    f"{_duration(self._window_s)}, plan {planned:.0f}/h ({short:.0%} short)"
                ),
            )
        state_tag = self.state_tag or self.tag
        if condition.active:
            message = (
                f"line {self._line} stopped ({state_tag} = {_fmt(self._state)}) "
                "while the plan says it runs"
            )
        else:
            message = f"line {self._line} no longer stopped against plan"
        return Transition(
            rule=condition.rule,
            tag=state_tag,
            active=condition.active,
            value=self._state,
            limit=self._min_duration,
            time=at,
            severity=condition.severity,
            category=self._category,
            message=message,
        )
