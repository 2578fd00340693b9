"""Builds the detectors of an agent's rules and routes readings to them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import assert_never

from edge_agent.detect.base import Detector
from edge_agent.detect.process import DriftDetector, LotOnHoldDetector, PlanDeviationDetector
from edge_agent.detect.signals import (
    RateOfChangeDetector,
    StaleDetector,
    StateDetector,
    ThresholdDetector,
)
from edge_agent.plans import PlanBook
from edge_agent.rule_config import (
    DriftRule,
    LotOnHoldRule,
    PlanDeviationRule,
    RateOfChangeRule,
    Rule,
    StaleRule,
    StateRule,
    ThresholdRule,
)


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
