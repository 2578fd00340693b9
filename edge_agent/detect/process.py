"""Detectors that compare the floor with the process and the plan: drift, lots on hold,
production against the planned rate."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Set
from datetime import datetime, timedelta

from edge_agent.detect.base import (
    BAD,
    HISTORY_SLOTS,
    Condition,
    SourceClock,
    Transition,
    fmt,
    fmt_duration,
    number_of,
    resume_conditions,
)
from edge_agent.plans import PlanBook
from edge_agent.rule_config import (
    DriftRule,
    LotOnHoldRule,
    PlanDeviationRule,
)
from protocols.base import Reading
from protocols.wire import Scalar, Severity


class DriftDetector:
    """EWMA or CUSUM against a target and sigma; one alarm per direction (see the rule)."""

    # One per rule, a thousand and more per agent: no instance dict.
    __slots__ = (
        "_category",
        "_clock",
        "_decay",
        "_decayed",
        "_down",
        "_ewma",
        "_h",
        "_high",
        "_k",
        "_lambda",
        "_low",
        "_sigma",
        "_target",
        "_up",
        "_width",
        "_z",
        "name",
        "tag",
        "tags",
    )

    def __init__(self, rule: DriftRule) -> None:
        self.name = rule.rule_name
        self.tag = rule.tag
        self.tags = frozenset((rule.tag,))
        self._category = rule.category
        self._clock = SourceClock()
        self._ewma = rule.method == "ewma"
        self._target = rule.target
        self._sigma = rule.sigma
        self._lambda = rule.lambda_
        self._width = rule.L * rule.sigma * math.sqrt(rule.lambda_ / (2 - rule.lambda_))
        self._decay = (1 - rule.lambda_) ** 2
        self._k = rule.k
        self._h = rule.h
        severity = rule.severity or Severity.MEDIUM
        self._high = Condition(f"{self.name}.high", severity, 0, 0)
        self._low = Condition(f"{self.name}.low", severity, 0, 0)
        self._z = rule.target
        self._decayed = 1.0  # (1 - lambda)^(2n): the EWMA limits widen to their asymptote
        self._up = 0.0  # CUSUM C+, in sigma
        self._down = 0.0  # CUSUM C-, in sigma

    def update(self, reading: Reading) -> list[Transition]:
        value = number_of(reading)
        if value is None:
            return []  # no statistic moves on a value we do not have
        t = self._clock.seen(reading)
        return self._ewma_step(value, t) if self._ewma else self._cusum_step(value, t)

    def tick(self, now: datetime) -> list[Transition]:
        return []  # the statistics move per reading only

    def resume(self, active: Set[str]) -> list[str]:
        """The statistics were not saved: a resumed direction restarts at its limit, so the
        next reading decides, with its evidence, whether the drift goes on or is over."""
        resumed = resume_conditions((self._high, self._low), active)
        if not resumed:
            return resumed
        if self._ewma:
            width = self._width  # the limits' asymptote: the statistic has run for long
            self._decayed = 0.0
            self._z = self._target + (width if self._high.active else -width)
        else:
            self._up = self._h if self._high.active else 0.0
            self._down = self._h if self._low.active else 0.0
        return resumed

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
        self, condition: Condition, statistic: float, limit: float, value: float, at: datetime
    ) -> Transition:
        direction = "high" if condition is self._high else "low"
        if self._ewma:
            measure = f"EWMA {fmt(statistic)} vs limit {fmt(limit)}"
        else:
            measure = f"CUSUM {fmt(statistic)} sigma vs h {fmt(limit)}"
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
                f"{self.tag} {head}: {measure} (target {fmt(self._target)}, "
                f"sigma {fmt(self._sigma)}, last {fmt(value)})"
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

    __slots__ = (
        "_category",
        "_clock",
        "_condition",
        "_lot",
        "_plans",
        "_seen",
        "name",
        "tag",
        "tags",
    )

    def __init__(self, rule: LotOnHoldRule, plans: PlanBook) -> None:
        self.name = rule.rule_name
        self.tag = rule.tag
        self.tags = frozenset((rule.tag,))
        self._category = rule.category
        self._plans = plans
        self._clock = SourceClock()
        self._condition = Condition(self.name, rule.severity or Severity.HIGH, 0, 0)
        self._lot: str | None = None
        self._seen = False

    def update(self, reading: Reading) -> list[Transition]:
        if reading.quality is BAD or reading.value is None:
            return []  # keep judging the last lot we know
        self._seen = True
        self._lot = _lot(reading.value)
        return self._evaluate(self._clock.seen(reading))

    def tick(self, now: datetime) -> list[Transition]:
        # Ticks carry hold-list changes: the lot may stay while the list around it changes.
        return self._evaluate(self._clock.source_time(now)) if self._seen else []

    def resume(self, active: Set[str]) -> list[str]:
        return resume_conditions((self._condition,), active)

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

    __slots__ = (
        "_behind",
        "_bucket",
        "_category",
        "_counter_max",
        "_counting_since",
        "_covered",
        "_history",
        "_integrated_to",
        "_keep",
        "_last_count",
        "_line",
        "_made",
        "_min_duration",
        "_planned",
        "_plans",
        "_rates",
        "_state",
        "_state_good",
        "_stopped",
        "_stopped_states",
        "_window",
        "_window_s",
        "name",
        "state_tag",
        "tag",
        "tags",
    )

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
        self._bucket = timedelta(seconds=rule.window / HISTORY_SLOTS)
        self._keep = 1 - rule.behind_percent / 100
        self._stopped_states = frozenset(rule.stopped_states or ())
        self._min_duration = rule.min_duration
        self._behind = Condition(
            f"{self.name}.behind", rule.severity or Severity.MEDIUM, rule.on_delay, rule.off_delay
        )
        self._stopped = Condition(
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
        good = reading.quality is not BAD and reading.value is not None
        if tag == self.tag:
            count = number_of(reading)
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

    def resume(self, active: Set[str]) -> list[str]:
        # "behind" is judged again after a full window of counting; "stopped" at the next state.
        return resume_conditions((self._behind, self._stopped), active)

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

    def _transition(self, condition: Condition, at: datetime) -> Transition:
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
                    f"{fmt_duration(self._window_s)}, plan {planned:.0f}/h ({short:.0%} short)"
                ),
            )
        state_tag = self.state_tag or self.tag
        if condition.active:
            message = (
                f"line {self._line} stopped ({state_tag} = {fmt(self._state)}) "
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
