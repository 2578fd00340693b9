"""Threshold detection from tables: each row is a timeline of (seconds, value) and the expected
transitions as (seconds, rule level, raised)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from edge_agent.detect import Detector, ThresholdDetector, build_detectors, by_tag
from edge_agent.plans import MemoryPlanBook, PlanBook, PlanEntry
from edge_agent.rule_config import Rule, ThresholdRule
from protocols.base import Reading
from protocols.wire import Quality, Severity

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _run(rule: dict[str, Any], timeline: list[tuple[float, float | None]]) -> list[tuple[Any, ...]]:
    detector = ThresholdDetector(ThresholdRule.model_validate({"kind": "threshold", **rule}))
    seen = []
    for seconds, value in timeline:
        at = T0 + timedelta(seconds=seconds)
        quality = Quality.BAD if value is None else Quality.GOOD
        for t in detector.update(Reading("t", value, quality, at, at)):
            seen.append((seconds, t.rule.rsplit(".", 1)[1], t.active))
    return seen


CASES = [
    pytest.param(
        {"tag": "t", "hi": 80},
        [(0, 79), (1, 80), (2, 80.1), (3, 79.9)],
        [(2, "hi", True), (3, "hi", False)],
        id="hi-strictly-above",
    ),
    pytest.param(
        {"tag": "t", "hi": 80, "deadband": 2},
        [(0, 81), (1, 79), (2, 78.5), (3, 77.9)],
        [(0, "hi", True), (3, "hi", False)],
        id="deadband-holds-until-below",
    ),
    pytest.param(
        {"tag": "t", "hi": 80, "deadband": 2},
        [(0, 80.5), (1, 79.5), (2, 80.5), (3, 79.5), (4, 80.5)],
        [(0, "hi", True)],
        id="chatter-inside-deadband-is-one-alarm",
    ),
    pytest.param(
        {"tag": "t", "hi": 80},
        [(0, 80.5), (1, 79.5), (2, 80.5), (3, 79.5)],
        [(0, "hi", True), (1, "hi", False), (2, "hi", True), (3, "hi", False)],
        id="chatter-without-deadband",
    ),
    pytest.param(
        {"tag": "t", "hi": 80, "on_delay": "2s"},
        [(0, 85), (1, 85), (1.5, 79), (2, 85), (3, 85), (4, 85)],
        [(4, "hi", True)],
        id="on-delay-restarts-when-value-dips",
    ),
    pytest.param(
        {"tag": "t", "hi": 80, "off_delay": "2s"},
        [(0, 85), (1, 70), (2, 70), (3, 70)],
        [(0, "hi", True), (3, "hi", False)],
        id="off-delay",
    ),
    pytest.param(
        {"tag": "t", "hi": 80, "hihi": 90},
        [(0, 85), (1, 95), (2, 85), (3, 70)],
        [(0, "hi", True), (1, "hihi", True), (2, "hihi", False), (3, "hi", False)],
        id="hi-and-hihi",
    ),
    pytest.param(
        {"tag": "t", "lo": 10, "lolo": 5},
        [(0, 20), (1, 9), (2, 4), (3, 12)],
        [(1, "lo", True), (2, "lolo", True), (3, "lolo", False), (3, "lo", False)],
        id="lo-and-lolo",
    ),
    pytest.param(
        {"tag": "t", "hi": 80},
        [(0, 85), (1, None), (2, None), (3, 85)],
        [(0, "hi", True)],
        id="bad-quality-holds-state",
    ),
]


@pytest.mark.parametrize(("rule", "timeline", "expected"), CASES)
def test_threshold(rule: dict[str, Any], timeline: list[Any], expected: list[Any]) -> None:
    assert _run(rule, timeline) == expected


def test_severity_defaults_and_override() -> None:
    rule = ThresholdRule.model_validate({"kind": "threshold", "tag": "t", "hi": 1, "hihi": 2})
    at = T0
    found = ThresholdDetector(rule).update(Reading("t", 3.0, Quality.GOOD, at, at))
    assert [(t.rule, t.severity) for t in found] == [
        ("t.hihi", Severity.CRITICAL),
        ("t.hi", Severity.HIGH),
    ]
    rule = ThresholdRule.model_validate(
        {"kind": "threshold", "tag": "t", "name": "oven", "hi": 1, "severity": "low"}
    )
    found = ThresholdDetector(rule).update(Reading("t", 3.0, Quality.GOOD, at, at))
    assert [(t.rule, t.severity, t.limit, t.value) for t in found] == [
        ("oven.hi", Severity.LOW, 1.0, 3.0)
    ]


# --- A timeline player shared by the tests of every rule kind --------------------------------

TICK = object()
"""In a timeline, ``(seconds, TICK)`` calls ``tick`` with the agent clock at that moment."""


def play(
    detector: Detector, steps: list[tuple[Any, ...]], *, skew: float = 0.0
) -> list[tuple[float, str, bool]]:
    """Feed a timeline; the transitions as (their time in seconds, alarm id suffix, raised).

    A step is ``(seconds, value)`` for the detector's tag ``t``, ``(seconds, value, tag)`` for
    another tag, or ``(seconds, TICK)``; a value of None is a bad-quality reading. ``skew``
    puts the device clock that many seconds behind the agent's (readings arrive late by it).
    """
    seen = []
    for step in steps:
        seconds, value, tag = (*step, "t") if len(step) == 2 else step
        agent_time = T0 + timedelta(seconds=seconds + skew)
        if value is TICK:
            found = detector.tick(agent_time)
        else:
            quality = Quality.BAD if value is None else Quality.GOOD
            at = T0 + timedelta(seconds=seconds)
            found = detector.update(Reading(tag, value, quality, at, agent_time))
        for t in found:
            suffix = t.rule.removeprefix(detector.name).removeprefix(".")
            seen.append(((t.time - T0).total_seconds(), suffix, t.active))
    return seen


def detector_for(rule: dict[str, Any], plans: PlanBook | None = None) -> Detector:
    rules = TypeAdapter(list[Rule]).validate_python([{"name": "r", "tag": "t", **rule}])
    [detector] = build_detectors(rules, plans or MemoryPlanBook())
    return detector


TICK_CASES = [
    pytest.param(
        {"hi": 80, "on_delay": "2s"},
        [(0, 85), (1, TICK), (1.9, TICK), (2.5, TICK), (3, TICK)],
        [(2, "hi", True)],
        id="on-delay-completes-on-tick-without-new-reading",
    ),
    pytest.param(
        {"hi": 80, "off_delay": "2s"},
        [(0, 85), (1, 70), (2, TICK), (3.2, TICK)],
        [(0, "hi", True), (3, "hi", False)],
        id="off-delay-completes-on-tick",
    ),
    pytest.param(
        {"hi": 80, "on_delay": "2s"},
        [(0, 85), (5, 70)],
        [(2, "hi", True), (5, "hi", False)],
        id="value-holds-between-sparse-readings",
    ),
    pytest.param(
        {"hi": 80, "on_delay": "2s"},
        [(0, 85), (1, None), (3, TICK), (4, 85), (5, TICK), (6, TICK)],
        [(6, "hi", True)],
        id="bad-reading-cancels-pending-delay",
    ),
    pytest.param(
        {"hi": 80, "off_delay": "2s"},
        [(0, 85), (1, 70), (1.5, None), (5, TICK)],
        [(0, "hi", True)],
        id="bad-reading-keeps-alarm-active",
    ),
    pytest.param(
        {"hi": 80},
        [(0, 85), (1, float("nan")), (2, float("inf")), (3, 70)],
        [(0, "hi", True), (3, "hi", False)],
        id="nan-and-inf-are-not-values",
    ),
    pytest.param(
        {"lo": 10, "on_delay": "1s", "deadband": 1},
        [(0, 9), (0.5, 10.5), (1, 9), (1.5, 10.9), (2, 9), (3, TICK), (4, 10.5), (5, 11.5)],
        [(3, "lo", True), (5, "lo", False)],
        id="lo-deadband-and-on-delay-chatter",
    ),
]


@pytest.mark.parametrize(("rule", "steps", "expected"), TICK_CASES)
def test_threshold_with_ticks(rule: dict[str, Any], steps: list[Any], expected: list[Any]) -> None:
    assert play(detector_for({"kind": "threshold", **rule}), steps) == expected


def test_tick_maps_the_agent_clock_onto_a_skewed_device_clock() -> None:
    # The device clock runs an hour behind the agent's: the delay is still 2 s of device time.
    detector = detector_for({"kind": "threshold", "hi": 80, "on_delay": "2s"})
    steps = [(0, 85), (1.5, TICK), (2.5, TICK)]
    assert play(detector, steps, skew=3600) == [(2, "hi", True)]


def test_threshold_message_and_fields() -> None:
    detector = detector_for({"kind": "threshold", "tag": "press.temperature", "hi": 80})
    at = T0
    [raised] = detector.update(Reading("press.temperature", 85.2, Quality.GOOD, at, at))
    assert raised.message == "press.temperature 85.2 above hi 80"
    [cleared] = detector.update(Reading("press.temperature", 79, Quality.GOOD, at, at))
    assert cleared.message == "press.temperature 79 no longer above hi 80"
    assert (cleared.rule, cleared.tag, cleared.value, cleared.limit) == (
        "r.hi",
        "press.temperature",
        79.0,
        80.0,
    )


def test_build_detectors_one_per_rule_and_routes_by_tag() -> None:
    rules = TypeAdapter(list[Rule]).validate_python(
        [
            {"kind": "threshold", "tag": "a", "hi": 1},
            {"kind": "rate_of_change", "name": "a-rate", "tag": "a", "limit": 1, "window": 10},
            {"kind": "stale", "tag": "b", "max_age": 5},
            {"kind": "state", "tag": "c", "states": [2]},
            {"kind": "plan_deviation", "tag": "d", "line": "l1", "state_tag": "c",
             "stopped_states": [0]},
            {"kind": "drift", "tag": "e", "method": "cusum", "target": 1, "sigma": 1},
            {"kind": "lot_on_hold", "tag": "f"},
        ]
    )  # fmt: skip
    detectors = build_detectors(rules, MemoryPlanBook())
    assert [type(d).__name__ for d in detectors] == [
        "ThresholdDetector",
        "RateOfChangeDetector",
        "StaleDetector",
        "StateDetector",
        "PlanDeviationDetector",
        "DriftDetector",
        "LotOnHoldDetector",
    ]
    routes = by_tag(detectors)
    assert {tag: [d.name for d in ds] for tag, ds in routes.items()} == {
        "a": ["a", "a-rate"],
        "b": ["b"],
        "c": ["c", "d"],
        "d": ["d"],
        "e": ["e"],
        "f": ["f"],
    }
    with pytest.raises(ValueError, match="rule 'a' is defined twice"):
        build_detectors([rules[0], rules[0]], MemoryPlanBook())


def test_bad_quality_never_triggers_a_value_rule() -> None:
    rules = TypeAdapter(list[Rule]).validate_python(
        [
            {"kind": "threshold", "tag": "t", "lo": 1, "hi": 2},
            {"kind": "rate_of_change", "name": "roc", "tag": "t", "limit": 1, "window": 1},
            {"kind": "state", "name": "st", "tag": "t", "states": [0]},
            {"kind": "drift", "name": "dr", "tag": "t", "method": "ewma", "target": 1,
             "sigma": 0.1, "lambda": 1},
            {"kind": "lot_on_hold", "name": "lot", "tag": "t"},
            {"kind": "plan_deviation", "name": "pd", "tag": "t", "line": "l1", "window": 1},
        ]
    )  # fmt: skip
    plans = MemoryPlanBook(
        [PlanEntry("l1", "p", T0 - timedelta(hours=1), T0 + timedelta(hours=1), 3600)], ["None"]
    )
    for detector in build_detectors(rules, plans):
        for seconds in range(0, 30):
            at = T0 + timedelta(seconds=seconds)
            assert detector.update(Reading("t", None, Quality.BAD, at, at)) == []
            assert detector.update(Reading("t", 0.0, Quality.BAD, at, at)) == []
            assert detector.tick(at) == []
