"""Detectors of a signal's own behaviour: limits, rate of change, staleness, discrete state."""

from __future__ import annotations

from collections import deque
from collections.abc import Set
from datetime import datetime, timedelta

from edge_agent.detect.base import (
    BAD,
    DEFAULT_SEVERITY,
    HISTORY_SLOTS,
    Condition,
    SourceClock,
    Transition,
    fmt,
    fmt_duration,
    number_of,
    resume_conditions,
)
from edge_agent.rule_config import (
    PER_SECONDS,
    RateOfChangeRule,
    StaleRule,
    StateRule,
    ThresholdRule,
)
from protocols.base import Reading
from protocols.wire import Scalar, Severity


class _Level(Condition):
    """One limit of a threshold rule."""

    __slots__ = ("clear_at", "high", "level", "limit")

    def __init__(self, rule: ThresholdRule, level: str, limit: float) -> None:
        severity = rule.severity or DEFAULT_SEVERITY[level]
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

    # One per rule, a thousand and more per agent: no instance dict.
    __slots__ = ("_category", "_clock", "_levels", "_value", "name", "tag", "tags")

    def __init__(self, rule: ThresholdRule) -> None:
        self.name = rule.rule_name
        self.tag = rule.tag
        self.tags = frozenset((rule.tag,))
        self._category = rule.category
        self._clock = SourceClock()
        self._value = 0.0
        self._levels = [_Level(rule, level, limit) for level, limit in rule.limits().items()]

    def update(self, reading: Reading) -> list[Transition]:
        value = number_of(reading)
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

    def resume(self, active: Set[str]) -> list[str]:
        return resume_conditions(self._levels, active)

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
            message=f"{self.tag} {fmt(float(value))} {verb} {level.level} {fmt(level.limit)}",
        )


class RateOfChangeDetector:
    """Change per second/minute/hour over a window, rising, falling or both (see the rule)."""

    __slots__ = (
        "_bucket",
        "_category",
        "_clock",
        "_conditions",
        "_deadband",
        "_history",
        "_limit",
        "_per",
        "_rate",
        "_scale",
        "_window",
        "name",
        "tag",
        "tags",
    )

    def __init__(self, rule: RateOfChangeRule) -> None:
        self.name = rule.rule_name
        self.tag = rule.tag
        self.tags = frozenset((rule.tag,))
        self._category = rule.category
        self._limit = rule.limit
        self._deadband = rule.deadband
        self._per = rule.per
        self._window = timedelta(seconds=rule.window)
        self._bucket = timedelta(seconds=rule.window / HISTORY_SLOTS)
        self._scale = PER_SECONDS[rule.per] / rule.window
        self._clock = SourceClock()
        self._history: deque[tuple[datetime, float]] = deque()
        self._rate = 0.0
        severity = rule.severity or Severity.HIGH
        # (condition, sign): the falling condition judges the negated rate against the limit.
        self._conditions = [
            (Condition(f"{self.name}.{direction}", severity, rule.on_delay, rule.off_delay), sign)
            for direction, sign in (("rising", 1.0), ("falling", -1.0))
            if rule.direction in (direction, "both")
        ]

    def update(self, reading: Reading) -> list[Transition]:
        value = number_of(reading)
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

    def resume(self, active: Set[str]) -> list[str]:
        # Judged again once a full window of readings has come in; held until then.
        return resume_conditions((c for c, _ in self._conditions), active)

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

    def _transition(self, condition: Condition, at: datetime) -> Transition:
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
                f"{self.tag} {state}{direction} fast: {fmt(self._rate)}/{self._per} "
                f"(limit {fmt(self._limit)}/{self._per})"
            ),
        )


_UNSEEN = object()


class StaleDetector:
    """No fresh reading for ``max_age`` and bad quality for ``bad_for``, on the agent's clock."""

    __slots__ = (
        "_bad",
        "_bad_for",
        "_bad_since",
        "_category",
        "_fresh_at",
        "_max_age",
        "_require_change",
        "_stale",
        "_value",
        "name",
        "tag",
        "tags",
    )

    def __init__(self, rule: StaleRule) -> None:
        self.name = rule.rule_name
        self.tag = rule.tag
        self.tags = frozenset((rule.tag,))
        self._category = rule.category
        self._max_age = None if rule.max_age is None else timedelta(seconds=rule.max_age)
        self._bad_for = None if rule.bad_for is None else timedelta(seconds=rule.bad_for)
        self._require_change = rule.require_change
        self._stale = Condition(f"{self.name}.stale", rule.severity or Severity.MEDIUM, 0, 0)
        self._bad = Condition(f"{self.name}.bad", rule.severity or Severity.HIGH, 0, 0)
        self._fresh_at: datetime | None = None
        self._bad_since: datetime | None = None
        self._value: object = _UNSEEN

    def update(self, reading: Reading) -> list[Transition]:
        t = reading.receive_time
        transitions = self._due(t)
        if reading.quality is BAD:
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

    def resume(self, active: Set[str]) -> list[str]:
        # Stays active until a good (or, for stale, fresh) reading comes.
        return resume_conditions((self._stale, self._bad), active)

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

    def _transition(self, condition: Condition, at: datetime) -> Transition:
        value = None if self._value is _UNSEEN else self._value
        if condition is self._stale:
            age = self._max_age.total_seconds() if self._max_age else 0.0
            what = "no change" if self._require_change else "no new reading"
            message = (
                f"{self.tag}: {what} for {fmt_duration(age)}"
                if condition.active
                else f"{self.tag} is updating again"
            )
        else:
            age = self._bad_for.total_seconds() if self._bad_for else 0.0
            message = (
                f"{self.tag}: bad quality for {fmt_duration(age)}"
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

    __slots__ = (
        "_category",
        "_clock",
        "_condition",
        "_min_duration",
        "_states",
        "_value",
        "name",
        "tag",
        "tags",
    )

    def __init__(self, rule: StateRule) -> None:
        self.name = rule.rule_name
        self.tag = rule.tag
        self.tags = frozenset((rule.tag,))
        self._category = rule.category
        self._states = frozenset(rule.states)
        self._min_duration = rule.min_duration
        self._clock = SourceClock()
        self._condition = Condition(
            self.name, rule.severity or Severity.HIGH, rule.min_duration, rule.off_delay
        )
        self._value: Scalar = None

    def update(self, reading: Reading) -> list[Transition]:
        if reading.quality is BAD or reading.value is None:
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

    def resume(self, active: Set[str]) -> list[str]:
        return resume_conditions((self._condition,), active)

    def _due(self, t: datetime) -> list[Transition]:
        at = self._condition.due(t)
        return [] if at is None else [self._transition(self._value, at)]

    def _transition(self, value: Scalar, at: datetime) -> Transition:
        if self._condition.active:
            held = f" for {fmt_duration(self._min_duration)}" if self._min_duration else ""
            message = f"{self.tag} is {fmt(value)}{held}"
        else:
            message = f"{self.tag} left {', '.join(map(fmt, self._states))}: now {fmt(value)}"
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
