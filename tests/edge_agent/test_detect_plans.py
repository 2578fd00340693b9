"""Plan deviation and lot on hold against a plan book, and the in-memory plan book itself.

Timelines as in ``test_detect``: (seconds, value) for the counter or lot tag ``t``,
(seconds, value, "s") for the state tag, (seconds, TICK); expected (time, alarm suffix, raised).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from edge_agent.plans import MemoryPlanBook, PlanEntry
from protocols.base import Reading
from protocols.wire import Quality
from tests.edge_agent.test_detect import T0, TICK, detector_for, play

HOUR = timedelta(hours=1)


def at(seconds: float) -> Any:
    return T0 + timedelta(seconds=seconds)


def plan(start: float, end: float, rate: float, product: str = "p") -> PlanEntry:
    """An entry on line l1 from ``start`` to ``end`` seconds after T0."""
    return PlanEntry("l1", product, at(start), at(end), rate)


def counts(start: int, end: int, per_5s: int, first: int = 0) -> list[tuple[float, int]]:
    """Counter readings every 5 s from ``start`` to ``end`` s, counting ``per_5s`` per reading."""
    return [(float(s), first + per_5s * i) for i, s in enumerate(range(start, end + 1, 5))]


ALL_DAY = [plan(-3600, 3600, 3600)]  # 3,600/h = 5 per 5 s
RULE = {"kind": "plan_deviation", "line": "l1", "window": "60s", "behind_percent": 10}

BEHIND_CASES = [
    pytest.param(ALL_DAY, counts(0, 120, 5), [], id="on-plan"),
    pytest.param(
        ALL_DAY,
        counts(0, 120, 4),
        # 48 made against 60 planned over the first full window: 20% short
        [(60, "behind", True)],
        id="behind-from-first-full-window",
    ),
    pytest.param(
        ALL_DAY,
        [(float(s), s - s // 20) for s in range(0, 121, 5)],  # 19 per 20 s: 5% short
        [],
        id="within-10pct",
    ),
    pytest.param(
        ALL_DAY,
        [*counts(0, 60, 4), *counts(65, 120, 6, 54)],
        # made over the window at 60 + 5j s is 48 + 2j: 54 (not behind) at 75 s
        [(60, "behind", True), (75, "behind", False)],
        id="recovers",
    ),
    pytest.param(
        [plan(-3600, 30, 3600, "a"), plan(30, 3600, 7200, "b")],
        counts(0, 90, 5),
        # the window at 60 s plans 30 + 60 = 90 (30 s of a, 30 s of b); 60 made
        [(60, "behind", True)],
        id="plan-change-mid-window-behind",
    ),
    pytest.param(
        [plan(-3600, 30, 3600, "a"), plan(30, 3600, 7200, "b")],
        [*counts(0, 30, 5), *counts(35, 90, 10, 40)],
        [],
        id="plan-change-mid-window-followed",
    ),
    pytest.param(
        [plan(100, 3600, 3600)],
        [*counts(0, 100, 0), *counts(105, 200, 4, 4)],
        # nothing planned before 100 s; the first window the plan covers whole ends at 160 s
        [(160, "behind", True)],
        id="grace-until-plan-covers-the-window",
    ),
    pytest.param([], counts(0, 120, 0), [], id="no-plan-nothing-to-be-behind"),
    pytest.param([plan(-3600, 3600, 0)], counts(0, 120, 0), [], id="planned-stop"),
    pytest.param(
        ALL_DAY,
        [*counts(0, 30, 4), (35, None), (40, None), *counts(45, 150, 4, 40)],
        # counting resumes at 45 s, so the first window judged again ends at 105 s
        [(105, "behind", True)],
        id="bad-counter-restarts-the-window",
    ),
    pytest.param(
        ALL_DAY,
        [(s, c % 65536) for s, c in counts(0, 120, 5, 65_500)],
        [],
        id="counter-wrap-on-plan",
    ),
    pytest.param(
        ALL_DAY,
        [*counts(0, 25, 5), *counts(30, 120, 5, 5)],
        # the counter was reset to 0 just after 25 s (shift change): 5 made since
        [],
        id="counter-reset",
    ),
]


@pytest.mark.parametrize(("entries", "steps", "expected"), BEHIND_CASES)
def test_behind_plan(entries: list[PlanEntry], steps: list[Any], expected: list[Any]) -> None:
    detector = detector_for({**RULE, "counter_max": 65535}, MemoryPlanBook(entries))
    assert play(detector, steps) == expected


def test_counter_wrap_counts_the_step_past_the_top() -> None:
    wraps = [(s, c % 65536) for s, c in counts(0, 120, 4, 65_500)]
    detector = detector_for({**RULE, "counter_max": 65535}, MemoryPlanBook(ALL_DAY))
    assert play(detector, wraps) == [(60, "behind", True)]
    # without counter_max, the wrap reads as a reset: still a small step, never a huge one
    detector = detector_for(RULE, MemoryPlanBook(ALL_DAY))
    assert play(detector, wraps) == [(60, "behind", True)]


@pytest.mark.parametrize(
    ("values", "made"),
    [
        ([65_530, 65_535, 4, 10], 16),  # 5, then a wrap of 5 (65535 -> 0 -> 4), then 6
        ([100, 105, 5, 10], 15),  # 105 -> 5 as a wrap would be 65,436: a reset, 5 made
        # A reset from high up cannot be told from a wrap: 65005 -> 3 counts as 534 made.
        ([65_000, 65_005, 3], 539),
    ],
)
def test_counter_wrap_or_reset(values: list[int], made: int) -> None:
    detector = detector_for({**RULE, "counter_max": 65535}, MemoryPlanBook(ALL_DAY))
    play(detector, [(float(5 * i), v) for i, v in enumerate(values)])
    assert detector._made == made  # type: ignore[attr-defined]


def test_behind_transition_carries_rates_and_message() -> None:
    detector = detector_for({**RULE, "tag": "line1.count"}, MemoryPlanBook(ALL_DAY))
    found = []
    for s, c in counts(0, 60, 4):
        found += detector.update(Reading("line1.count", c, Quality.GOOD, at(s), at(s)))
    [raised] = found
    assert (raised.rule, raised.tag, raised.value, raised.limit) == (
        "r.behind",
        "line1.count",
        2880.0,
        3600.0,
    )
    assert raised.message == "line l1 behind plan: 2880/h over 1min, plan 3600/h (20% short)"


def test_a_replaced_plan_does_not_rewrite_what_was_planned_before() -> None:
    plans = MemoryPlanBook(ALL_DAY)
    detector = detector_for(RULE, plans)
    assert play(detector, counts(0, 30, 5)) == []
    # The hub now says the first 30 s were planned at double rate. Judged against that, the
    # window at 60 s would be 90 planned, 60 made (behind); the edge keeps what it planned then.
    plans.replace_plans([plan(-3600, 30, 7200), plan(30, 3600, 3600)])
    assert play(detector, counts(35, 90, 5, 35)) == []


STOPPED_RULE = {**RULE, "state_tag": "s", "stopped_states": [0, "STOP"], "min_duration": "10s"}

STOPPED_CASES = [
    pytest.param(
        ALL_DAY,
        [(0, 1, "s"), (5, 0, "s"), (10, TICK), (15.5, TICK), (20, 1, "s")],
        [(15, "stopped", True), (20, "stopped", False)],
        id="stopped-while-planned",
    ),
    pytest.param(
        ALL_DAY,
        [(0, "RUN", "s"), (5, "STOP", "s"), (10, "RUN", "s"), (12, "STOP", "s"), (21, TICK)],
        [],
        id="short-stops-under-min-duration",
    ),
    pytest.param(
        [plan(-3600, 30, 3600), plan(30, 3600, 0)],
        [(0, 0, "s"), (10, TICK), (20, TICK), (30, TICK), (40, TICK)],
        # stopped from 0 s raises at 10 s; the planned stop from 30 s clears it
        [(10, "stopped", True), (30, "stopped", False)],
        id="planned-stop-is-no-deviation",
    ),
    pytest.param(
        [plan(-3600, 20, 3600)],
        [(0, 0, "s"), (10, TICK), (20, TICK)],
        [(10, "stopped", True), (20, "stopped", False)],
        id="plan-ends",
    ),
    pytest.param(
        ALL_DAY,
        [(0, 0, "s"), (5, None, "s"), (10, TICK), (20, TICK), (25, 0, "s"), (35, TICK)],
        [(35, "stopped", True)],
        id="bad-state-cancels-pending",
    ),
]


@pytest.mark.parametrize(("entries", "steps", "expected"), STOPPED_CASES)
def test_stopped_against_plan(
    entries: list[PlanEntry], steps: list[Any], expected: list[Any]
) -> None:
    assert play(detector_for(STOPPED_RULE, MemoryPlanBook(entries)), steps) == expected


LOT_CASES = [
    pytest.param(
        ["L2"],
        [(0, "L1"), (1, TICK), (2, "L2"), (3, "L1")],
        [(2, "", True), (3, "", False)],
        id="lot-changes",
    ),
    pytest.param(
        ["L1 "],
        [(0, "  L1 "), (1, None), (2, "")],
        [],
        id="whitespace-ignored-on-the-tag-only",
    ),
    pytest.param(["L1"], [(0, " L1 "), (1, None), (2, "")], [(0, "", True), (2, "", False)],
                 id="bad-holds-empty-clears"),
    pytest.param(["12345"], [(0, 12345), (1, 12346.0)], [(0, "", True), (1, "", False)],
                 id="numeric-lot"),
]  # fmt: skip


@pytest.mark.parametrize(("holds", "steps", "expected"), LOT_CASES)
def test_lot_on_hold(holds: list[str], steps: list[Any], expected: list[Any]) -> None:
    detector = detector_for({"kind": "lot_on_hold"}, MemoryPlanBook(holds=holds))
    assert play(detector, steps) == expected


def test_hold_list_change_is_seen_on_the_next_tick() -> None:
    plans = MemoryPlanBook()
    detector = detector_for({"kind": "lot_on_hold", "tag": "pack.lot"}, plans)
    assert detector.tick(at(0)) == []  # no lot seen yet
    assert detector.update(Reading("pack.lot", "L1", Quality.GOOD, at(0), at(0))) == []
    plans.replace_holds(["L7", "L1"])
    [raised] = detector.tick(at(5))
    assert (raised.rule, raised.active, raised.value, raised.time) == ("r", True, "L1", at(5))
    assert raised.message == "lot L1 on pack.lot is on quality hold"
    assert detector.tick(at(6)) == []
    plans.replace_holds([])
    [cleared] = detector.tick(at(7))
    assert (cleared.active, cleared.message) == (False, "lot L1 on pack.lot is no longer on hold")


def test_memory_plan_book_boundaries() -> None:
    book = MemoryPlanBook([plan(0, 60, 1, "a"), plan(60, 120, 2, "b"), plan(200, 300, 3, "c")])
    assert book.current("l1", at(-1)) is None
    assert [book.current("l1", at(s)).product for s in (0, 59.9, 60, 119)] == ["a", "a", "b", "b"]  # type: ignore[union-attr]
    assert book.current("l1", at(120)) is None  # end is exclusive
    assert book.current("l1", at(150)) is None
    assert book.current("l2", at(0)) is None


def test_memory_plan_book_refuses_overlaps_whole() -> None:
    book = MemoryPlanBook([plan(0, 60, 1, "a")])
    with pytest.raises(ValueError, match=r"plan entries overlap on line 'l1': a .* and b from"):
        book.replace_plans([plan(0, 60, 1, "a"), plan(30, 90, 1, "b")])
    assert book.current("l1", at(10)).product == "a"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("start", "end", "rate", "message"),
    [
        (at(0), at(0), 1, "end must be after start"),
        (at(0), at(1), -1, "planned_rate_per_hour must be >= 0"),
        (at(0), at(1), float("nan"), "planned_rate_per_hour must be >= 0"),
        (at(0).replace(tzinfo=None), at(1), 1, "start and end need a timezone"),
    ],
)
def test_plan_entry_refuses_nonsense(start: Any, end: Any, rate: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PlanEntry("l1", "p", start, end, rate)
