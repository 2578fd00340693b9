"""Rate of change, stale / bad quality, discrete state and drift, from timeline tables.

Each row is a rule, a timeline of (seconds, value) readings of tag ``t`` (None is bad quality)
and ``(seconds, TICK)`` ticks, and the expected transitions as (time, alarm suffix, raised).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from protocols.base import Reading
from protocols.wire import Quality
from tests.edge_agent.test_detect import T0, TICK, detector_for, play


def ramp(start: float, end: float, first: float, step: float) -> list[tuple[float, float]]:
    """Readings every second from ``start`` to ``end`` seconds, rising by ``step`` each."""
    return [(float(s), first + step * i) for i, s in enumerate(range(int(start), int(end) + 1))]


FLAT = ramp(0, 10, 50, 0)  # 50 from 0 s to 10 s: a full window of history

RATE_CASES = [
    pytest.param(
        {"limit": 1, "window": "10s"},
        [*FLAT, *ramp(11, 20, 52, 2)],
        # at 16 s the value is 62: (62 - 50) / 10 s = 1.2/s, the first rate above 1/s
        [(16, "rising", True)],
        id="rising-over-window",
    ),
    pytest.param(
        {"limit": 60, "per": "min", "window": "10s"},
        [*FLAT, *ramp(11, 20, 52, 2)],
        [(16, "rising", True)],
        id="per-minute",
    ),
    pytest.param(
        {"limit": 1, "window": "10s", "direction": "falling"},
        [*FLAT, *ramp(11, 20, 52, 2), *ramp(21, 40, 66, -2)],
        # 66 at 21 s falls 2/s: at 28 s (52 - 66 at 18 s) / 10 s = -1.4/s, at 27 s -1.0/s
        [(28, "falling", True)],
        id="falling-only",
    ),
    pytest.param(
        {"limit": 1, "window": "10s"},
        [*FLAT, (11, 80), (15, TICK), (20, TICK), (21, TICK), (22, TICK)],
        # a jump then silence (report by exception): the held 80 leaves the window at 21 s
        [(11, "rising", True), (21, "rising", False)],
        id="jump-then-silence-clears-on-tick",
    ),
    pytest.param(
        {"limit": 1, "window": "10s"},
        [(0, 50), (5, 80), (9, 90)],
        [],
        id="needs-a-full-window",
    ),
    pytest.param(
        {"limit": 1, "window": "10s", "deadband": 0.5},
        [*FLAT, (11, 65), (12, 60), (13, 65), (14, 60), (22, 60), (23, 60)],
        # 1.5/s raises; back to 1.0/s and 1.5/s chatters inside the deadband; flat clears
        [(11, "rising", True), (22, "rising", False)],
        id="deadband-chatter",
    ),
    pytest.param(
        {"limit": 1, "window": "10s", "on_delay": "3s"},
        [*FLAT, (11, 65), (12, 50), (13, 65), (15, TICK), (16, TICK)],
        [(16, "rising", True)],
        id="on-delay-restarts",
    ),
    pytest.param(
        {"limit": 1, "window": "10s"},
        [*FLAT, (11, 70), (12, None), (13, 50), (20, 50), (23, 50)],
        # bad quality restarts the window: holds until 10 s of good history, then clears
        [(11, "rising", True), (23, "rising", False)],
        id="bad-quality-restarts-history-and-holds",
    ),
]


@pytest.mark.parametrize(("rule", "steps", "expected"), RATE_CASES)
def test_rate_of_change(rule: dict[str, Any], steps: list[Any], expected: list[Any]) -> None:
    assert play(detector_for({"kind": "rate_of_change", **rule}), steps) == expected


def test_rate_message_and_memory_bound() -> None:
    detector = detector_for({"kind": "rate_of_change", "limit": 1, "window": "10s"})
    found = []
    for i in range(10_000):  # 100 readings a second for 100 s, rising 0.05/s
        at = T0 + timedelta(seconds=i / 100)
        found += detector.update(
            Reading("t", i / 2000 + (30 if i > 9000 else 0), Quality.GOOD, at, at)
        )
    assert len(detector._history) <= 66  # type: ignore[attr-defined]
    [raised] = found
    # (34.5005 - 4.0) / 10 s: the window's edge is the kept sample at 80.00 s, a bucket early
    assert raised.message == "t rising fast: 3.05005/s (limit 1/s)"
    assert (raised.rule, raised.limit) == ("r.rising", 1.0)


STALE_CASES = [
    pytest.param(
        {"max_age": "5s"},
        [(0, 1), (4, TICK), (5.5, TICK), (6, TICK), (7, 1), (8, TICK)],
        [(5, "stale", True), (7, "stale", False)],
        id="no-new-reading",
    ),
    pytest.param(
        {"max_age": "5s"},
        [(0, TICK), (4, TICK), (6, TICK), (7, 3)],
        [(5, "stale", True), (7, "stale", False)],
        id="never-reported-since-start",
    ),
    pytest.param(
        {"max_age": "5s", "require_change": True},
        [(0, 1), (2, 1), (4, 1), (6, 1), (7, 2), (8, 2)],
        [(5, "stale", True), (7, "stale", False)],
        id="frozen-value",
    ),
    pytest.param(
        {"max_age": "5s"},
        [(0, 1), (2, 1), (4, 1), (6, 1), (8, 1)],
        [],
        id="same-value-is-fresh-without-require-change",
    ),
    pytest.param(
        {"bad_for": "10s"},
        [(0, 1), (1, None), (5, None), (10, TICK), (11, TICK), (12, 4)],
        [(11, "bad", True), (12, "bad", False)],
        id="bad-quality-for",
    ),
    pytest.param(
        {"bad_for": 0},
        [(0, None), (1, 4)],
        [(0, "bad", True), (1, "bad", False)],
        id="bad-at-once",
    ),
    pytest.param(
        {"max_age": "5s", "bad_for": "3s"},
        [(0, 1), (1, None), (4, TICK), (5, TICK), (6, TICK), (7, 2)],
        # comm loss: bad readings are not fresh, so both conditions raise, then both clear
        [(4, "bad", True), (5, "stale", True), (7, "bad", False), (7, "stale", False)],
        id="comm-loss-raises-both",
    ),
]


@pytest.mark.parametrize(("rule", "steps", "expected"), STALE_CASES)
def test_stale(rule: dict[str, Any], steps: list[Any], expected: list[Any]) -> None:
    assert play(detector_for({"kind": "stale", **rule}), steps) == expected


def test_stale_runs_on_the_agent_clock() -> None:
    # A device clock a day behind must not make every reading look stale.
    detector = detector_for({"kind": "stale", "max_age": "5s"})
    steps = [(0, 1), (2, TICK), (4, 1), (8, TICK)]
    assert play(detector, steps, skew=86_400) == []
    [raised] = play(detector, [(9.5, TICK)], skew=86_400)
    assert raised == (86_409, "stale", True)  # its time is on the agent clock


STATE_CASES = [
    pytest.param(
        {"states": [2], "min_duration": "5s"},
        [(0, 2), (3, 1), (4, 2), (8, TICK), (9.5, TICK), (10, 1)],
        [(9, "", True), (10, "", False)],
        id="min-duration-restarts-and-completes-on-tick",
    ),
    pytest.param(
        {"states": ["DOWN", "FAULT"]},
        [(0, "RUN"), (1, "DOWN"), (2, "FAULT"), (3, "RUN"), (4, "down")],
        [(1, "", True), (3, "", False)],
        id="text-states-exact",
    ),
    pytest.param(
        {"states": [2]},
        [(0, 2.0), (1, 1)],
        [(0, "", True), (1, "", False)],
        id="number-matches-float",
    ),
    pytest.param(
        {"states": [2], "min_duration": "2s"},
        [(0, 2), (1, None), (4, TICK), (5, 2), (7, TICK)],
        [(7, "", True)],
        id="bad-quality-cancels-pending",
    ),
    pytest.param(
        {"states": [2]},
        [(0, 2), (1, None), (2, None), (3, 1)],
        [(0, "", True), (3, "", False)],
        id="bad-quality-holds-active",
    ),
    pytest.param(
        {"states": [2], "off_delay": "2s"},
        [(0, 2), (1, 1), (2, 2), (3, 1), (5, TICK)],
        [(0, "", True), (5, "", False)],
        id="off-delay",
    ),
]


@pytest.mark.parametrize(("rule", "steps", "expected"), STATE_CASES)
def test_state(rule: dict[str, Any], steps: list[Any], expected: list[Any]) -> None:
    assert play(detector_for({"kind": "state", **rule}), steps) == expected


def test_state_message() -> None:
    detector = detector_for({"kind": "state", "tag": "line1.state", "states": ["DOWN"]})
    at = T0
    [raised] = detector.update(Reading("line1.state", "DOWN", Quality.GOOD, at, at))
    [cleared] = detector.update(Reading("line1.state", "RUN", Quality.GOOD, at, at))
    assert (raised.rule, raised.value, raised.message) == ("r", "DOWN", "line1.state is DOWN")
    assert cleared.message == "line1.state left DOWN: now RUN"


def series(*runs: tuple[int, float]) -> list[tuple[float, float]]:
    """Readings one second apart: ``runs`` of (count, value)."""
    values = [value for count, value in runs for _ in range(count)]
    return [(float(i), v) for i, v in enumerate(values)]


DRIFT_CASES = [
    pytest.param(
        {"method": "ewma", "target": 100, "sigma": 1, "lambda": 1, "L": 3},
        series((3, 100), (1, 103.5), (1, 102), (1, 96.5), (1, 100)),
        # lambda 1 is a plain 3-sigma chart: z is the value, the limits are 97 and 103
        [(3, "high", True), (4, "high", False), (5, "low", True), (6, "low", False)],
        id="ewma-lambda-1-is-shewhart",
    ),
    pytest.param(
        {"method": "ewma", "target": 100, "sigma": 1},
        series((20, 100), (40, 101.5)),
        # a 1.5-sigma shift that never crosses 103: z passes 100 + 3 * sqrt(0.2 / 1.8) = 101.0
        # on the 5th reading of 101.5 (z = 101.5 - 1.5 * 0.8^5 = 101.008; the 4th: 100.886)
        [(24, "high", True)],
        id="ewma-slow-drift-one-alarm",
    ),
    pytest.param(
        {"method": "ewma", "target": 100, "sigma": 1},
        series((20, 100), (15, 101.5), (20, 100), (15, 101.5)),
        # clears once z is back within the limit, restarts from target, raises again later
        # back on target z = 100 + 1.48 * 0.8^m is 100.95 on the 2nd reading (36 s)
        [(24, "high", True), (36, "high", False), (59, "high", True)],
        id="ewma-restarts-after-clearing",
    ),
    pytest.param(
        {"method": "cusum", "target": 0, "sigma": 1, "k": 0.5, "h": 5},
        series((3, 0), (6, 1.5), (2, 0), (6, -1.5)),
        # C+ grows 1 per reading: 6 > 5 at 8 s; falls 0.5 per reading: 5.0 at 10 s clears
        [(8, "high", True), (10, "high", False), (16, "low", True)],
        id="cusum-high-then-low",
    ),
    pytest.param(
        {"method": "cusum", "target": 0, "sigma": 1, "k": 0.5, "h": 5},
        series((100, 1.5), (12, 0)),
        # capped at 2h = 10: back at 5 (clear) after 10 readings on target, not 190
        [(5, "high", True), (109, "high", False)],
        id="cusum-capped-so-long-excursions-clear",
    ),
    pytest.param(
        {"method": "cusum", "target": 10, "sigma": 2, "k": 0.5, "h": 4},
        series((50, 10.8), (1, 10)),
        # 0.4 sigma above target: under k, so CUSUM never accumulates
        [],
        id="cusum-ignores-shift-under-k",
    ),
]


@pytest.mark.parametrize(("rule", "steps", "expected"), DRIFT_CASES)
def test_drift(rule: dict[str, Any], steps: list[Any], expected: list[Any]) -> None:
    assert play(detector_for({"kind": "drift", **rule}), steps) == expected


def test_drift_skips_bad_readings_and_says_what_it_saw() -> None:
    detector = detector_for(
        {"kind": "drift", "method": "cusum", "target": 0, "sigma": 1, "tag": "oven.zone1"}
    )
    found = []
    for i in range(8):
        at = T0 + timedelta(seconds=i)
        found += detector.update(Reading("oven.zone1", None, Quality.BAD, at, at))
        found += detector.update(Reading("oven.zone1", 1.5, Quality.GOOD, at, at))
    [raised] = found
    assert raised.message == (
        "oven.zone1 drifting high: CUSUM 6 sigma vs h 5 (target 0, sigma 1, last 1.5)"
    )
