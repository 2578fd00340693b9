"""Rule config errors read as ``check-config`` prints them: key path, then what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import pytest
from pydantic import Field, model_validator

from edge_agent.rule_config import DriftRule, PlanDeviationRule, Rule, check_rules
from floorgate.configfile import ConfigError, validate
from protocols.config import StrictConfig


class _Agent(StrictConfig):
    """The part of an agent config the rules live in, checked the way the agent config is."""

    tags: list[str] = Field(default_factory=lambda: ["t", "s", "count", "state"])
    rules: list[Rule]

    @model_validator(mode="after")
    def _check(self) -> Self:
        check_rules(self.rules, set(self.tags))
        return self


def problems(*rules: dict[str, Any]) -> list[str]:
    try:
        validate(Path("agent.yaml"), {"rules": list(rules)}, _Agent)
    except ConfigError as exc:
        return [f"{key}: {message}" for key, message in exc.problems]
    return []


OK: list[dict[str, Any]] = [
    {"kind": "threshold", "tag": "t", "hi": 1},
    {"kind": "rate_of_change", "name": "r", "tag": "t", "limit": 5, "per": "min", "window": "1min",
     "direction": "rising", "deadband": 1, "on_delay": "10s"},
    {"kind": "stale", "name": "st", "tag": "t", "max_age": "5min", "require_change": True,
     "bad_for": "30s"},
    {"kind": "state", "tag": "state", "states": [2, "DOWN", False], "min_duration": "2min"},
    {"kind": "plan_deviation", "name": "pd", "tag": "count", "line": "line-1", "window": "15min",
     "behind_percent": 10, "counter_max": 65535, "state_tag": "s", "stopped_states": [0],
     "min_duration": "5min"},
    {"kind": "drift", "name": "ew", "tag": "t", "method": "ewma", "target": 80, "sigma": 0.5,
     "lambda": 0.1, "L": 2.7},
    {"kind": "drift", "name": "cu", "tag": "t", "method": "cusum", "target": 80, "sigma": 0.5,
     "k": 0.5, "h": 4},
    {"kind": "lot_on_hold", "name": "lot", "tag": "s"},
]  # fmt: skip


def test_every_kind_validates() -> None:
    assert problems(*OK) == []
    agent = _Agent.model_validate({"rules": OK})
    drift = agent.rules[5]
    assert isinstance(drift, DriftRule)
    assert (drift.lambda_, drift.L) == (0.1, 2.7)
    plan = agent.rules[4]
    assert isinstance(plan, PlanDeviationRule)
    assert (plan.window, plan.min_duration, plan.tag_fields()) == (
        900.0,
        300.0,
        {"tag": "count", "state_tag": "s"},
    )


BAD = [
    pytest.param(
        {"kind": "thresold", "tag": "t"},
        "rules[0]: Input tag 'thresold' found using 'kind' does not match any of the expected "
        "tags: 'threshold', 'rate_of_change', 'stale', 'state', 'plan_deviation', 'drift', "
        "'lot_on_hold'",
        id="unknown-kind",
    ),
    pytest.param(
        {"kind": "threshold", "tag": "t", "hi": float("nan")},
        "rules[0].hi: Input should be a finite number (got nan)",
        id="nan-limit",
    ),
    pytest.param(
        {"kind": "rate_of_change", "tag": "t", "limit": 1},
        "rules[0].window: Field required",
        id="rate-without-window",
    ),
    pytest.param(
        {"kind": "rate_of_change", "tag": "t", "limit": 1, "window": 0},
        "rules[0].window: Input should be greater than 0 (got 0)",
        id="rate-zero-window",
    ),
    pytest.param(
        {"kind": "rate_of_change", "tag": "t", "limit": 1, "window": 5, "per": "day"},
        "rules[0].per: Input should be 's', 'min' or 'h' (got 'day')",
        id="rate-unknown-unit",
    ),
    pytest.param(
        {"kind": "rate_of_change", "tag": "t", "limit": 1, "window": 5, "deadband": 1},
        "rules[0].deadband: must be less than limit, or the alarm could never clear",
        id="rate-deadband-too-wide",
    ),
    pytest.param(
        {"kind": "stale", "tag": "t"},
        "rules[0]: give max_age, bad_for or both",
        id="stale-nothing-to-watch",
    ),
    pytest.param(
        {"kind": "stale", "tag": "t", "bad_for": "1min", "require_change": True},
        "rules[0].require_change: applies to max_age: give max_age as well",
        id="stale-require-change-without-max-age",
    ),
    pytest.param(
        {"kind": "stale", "tag": "t", "max_age": "later"},
        "rules[0].max_age: not a duration: 'later' (use e.g. 500ms, 2s, 15min, 1h) (got 'later')",
        id="stale-bad-duration",
    ),
    pytest.param(
        {"kind": "state", "tag": "t", "states": []},
        "rules[0].states: List should have at least 1 item after validation, not 0",
        id="state-no-states",
    ),
    pytest.param(
        {"kind": "state", "tag": "t", "states": [2.5]},
        "rules[0].states[0]: a state is a whole number, true/false or a text (got 2.5)",
        id="state-fractional",
    ),
    pytest.param(
        {"kind": "plan_deviation", "tag": "count"},
        "rules[0].line: Field required",
        id="plan-without-line",
    ),
    pytest.param(
        {"kind": "plan_deviation", "tag": "count", "line": "l", "state_tag": "s"},
        "rules[0].stopped_states: give the values of state_tag that mean stopped",
        id="plan-state-tag-without-states",
    ),
    pytest.param(
        {"kind": "plan_deviation", "tag": "count", "line": "l", "stopped_states": [0]},
        "rules[0].state_tag: stopped_states needs the state_tag it applies to",
        id="plan-states-without-tag",
    ),
    pytest.param(
        {"kind": "plan_deviation", "tag": "count", "line": "l", "min_duration": "5min"},
        "rules[0].min_duration: applies to state_tag: give state_tag as well",
        id="plan-min-duration-without-state-tag",
    ),
    pytest.param(
        {
            "kind": "plan_deviation",
            "tag": "count",
            "line": "l",
            "state_tag": "count",
            "stopped_states": [0],
        },
        "rules[0].state_tag: must differ from tag (the counter)",
        id="plan-state-tag-is-counter",
    ),
    pytest.param(
        {"kind": "plan_deviation", "tag": "count", "line": "l", "behind_percent": 100},
        "rules[0].behind_percent: Input should be less than 100 (got 100)",
        id="plan-behind-100",
    ),
    pytest.param(
        {"kind": "drift", "tag": "t", "method": "ewma", "target": 1, "sigma": 0},
        "rules[0].sigma: Input should be greater than 0 (got 0)",
        id="drift-zero-sigma",
    ),
    pytest.param(
        {"kind": "drift", "tag": "t", "method": "ewma", "target": 1, "sigma": 1, "h": 4},
        "rules[0].h: applies to method cusum, not ewma",
        id="drift-cusum-key-on-ewma",
    ),
    pytest.param(
        {"kind": "drift", "tag": "t", "method": "cusum", "target": 1, "sigma": 1, "lambda": 0.3},
        "rules[0].lambda: applies to method ewma, not cusum",
        id="drift-ewma-key-on-cusum",
    ),
    pytest.param(
        {"kind": "drift", "tag": "t", "method": "ewma", "target": 1, "sigma": 1, "lambda": 1.5},
        "rules[0].lambda: Input should be less than or equal to 1 (got 1.5)",
        id="drift-lambda-above-1",
    ),
    pytest.param(
        {"kind": "drift", "tag": "t", "method": "shewhart", "target": 1, "sigma": 1},
        "rules[0].method: Input should be 'ewma' or 'cusum' (got 'shewhart')",
        id="drift-unknown-method",
    ),
    pytest.param(
        {"kind": "lot_on_hold", "tag": "t", "holds": ["L1"]},
        "rules[0].holds: Extra inputs are not permitted",
        id="lot-typo-key",
    ),
]


@pytest.mark.parametrize(("rule", "message"), BAD)
def test_rule_errors_name_the_key(rule: dict[str, Any], message: str) -> None:
    assert problems(rule) == [message]


CROSS = [
    pytest.param(
        [{"kind": "threshold", "tag": "nope", "hi": 1}],
        "rules[0].tag: no source defines tag 'nope'",
        id="unknown-tag",
    ),
    pytest.param(
        [
            {
                "kind": "plan_deviation",
                "tag": "count",
                "line": "l",
                "state_tag": "nope",
                "stopped_states": [0],
            }
        ],
        "rules[0].state_tag: no source defines tag 'nope'",
        id="unknown-state-tag",
    ),
    pytest.param(
        [{"kind": "threshold", "tag": "t", "hi": 1}, {"kind": "stale", "tag": "t", "bad_for": 0}],
        "rules[1].name: rule 't' is already defined by rules[0] "
        "(give each rule on one tag its own name)",
        id="same-default-name",
    ),
    pytest.param(
        [
            {"kind": "threshold", "tag": "t", "hi": 1, "name": "x"},
            {"kind": "stale", "tag": "s", "bad_for": 0, "name": "x"},
        ],
        "rules[1].name: rule 'x' is already defined by rules[0]",
        id="same-name",
    ),
]


@pytest.mark.parametrize(("rules", "message"), CROSS)
def test_cross_rule_errors(rules: list[dict[str, Any]], message: str) -> None:
    assert problems(*rules) == [message]
