"""Report by exception, from tables: (seconds, value, quality) in, which readings are sent out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from edge_agent.config import ReportConfig
from edge_agent.report import ValueReporter
from protocols.base import Reading
from protocols.wire import EventType, Quality

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GOOD, BAD = Quality.GOOD, Quality.BAD


def _sent(config: dict[str, Any], tag: str, timeline: list[tuple[float, Any, Quality]]) -> list:
    reporter = ValueReporter(ReportConfig.model_validate(config))
    sent = []
    for seconds, value, quality in timeline:
        at = T0 + timedelta(seconds=seconds)
        draft = reporter.update(Reading(tag, value, quality, at, at))
        if draft is not None:
            assert draft.type is EventType.VALUE
            assert draft.tag == tag
            assert draft.source_time == at
            sent.append(seconds)
    return sent


CASES = [
    pytest.param(
        {},
        "t",
        [(0, 1.0, GOOD), (1, 1.0, GOOD), (2, 1.5, GOOD)],
        [0, 2],
        id="unchanged-is-not-sent",
    ),
    pytest.param(
        {"deadband": 0.5},
        "t",
        [(0, 10.0, GOOD), (1, 10.4, GOOD), (2, 10.5, GOOD), (3, 10.6, GOOD), (4, 9.9, GOOD)],
        [0, 3, 4],
        id="deadband-is-measured-from-the-last-sent-value",
    ),
    pytest.param(
        {"deadband": 5, "heartbeat": "10s"},
        "t",
        [(0, 1.0, GOOD), (9, 1.0, GOOD), (10, 1.0, GOOD), (15, 1.0, GOOD), (20, 1.0, GOOD)],
        [0, 10, 20],
        id="heartbeat",
    ),
    pytest.param(
        {"deadband": 5},
        "t",
        [(0, 1.0, GOOD), (1, None, BAD), (2, 1.0, GOOD)],
        [0, 1, 2],
        id="quality-change-is-always-sent",
    ),
    pytest.param(
        {}, "lot", [(0, "A", GOOD), (1, "A", GOOD), (2, "B", GOOD)], [0, 2], id="text-on-change"
    ),
    pytest.param(
        {"deadband": 1},
        "s",
        [(0, True, GOOD), (1, True, GOOD), (2, False, GOOD)],
        [0, 2],
        id="bool-is-not-a-number",
    ),
    pytest.param(
        {"deadband": 0, "deadbands": {"oven.*": 2.0, "oven.zone1": 9.0}},
        "oven.zone1",
        [(0, 100.0, GOOD), (1, 101.0, GOOD), (2, 102.5, GOOD)],
        [0, 2],
        id="first-matching-glob-wins",
    ),
    pytest.param({"values": False}, "t", [(0, 1.0, GOOD), (1, 2.0, GOOD)], [], id="values-off"),
]


@pytest.mark.parametrize(("config", "tag", "timeline", "expected"), CASES)
def test_report_by_exception(config: dict, tag: str, timeline: list, expected: list) -> None:
    assert _sent(config, tag, timeline) == expected
