"""Threshold detection from tables: each row is a timeline of (seconds, value) and the expected
transitions as (seconds, rule level, raised)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from edge_agent.detect import ThresholdDetector
from edge_agent.rule_config import ThresholdRule
from protocols.base import Reading
from protocols.wire import Quality, Severity

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _run(rule: dict[str, Any], timeline: list[tuple[float, float | None]]) -> list[tuple]:
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
def test_threshold(rule: dict[str, Any], timeline: list, expected: list) -> None:
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
