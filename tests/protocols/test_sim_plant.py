"""The simulated plant's signals are fit for the demo's rules: an oven zone on target does not
look like drift to CUSUM, and the drift fault does (sensor noise must not wander by itself)."""

from __future__ import annotations

import pytest

from floorgate.demo import DemoSettings, demo_agent_config
from protocols.sim.plant import Fault, Plant
from tests.edge_agent.test_detect import detector_for, play

STEP = 0.1
SAMPLE_EVERY = 5
"""Steps per reading: the demo subscribes to the oven every 500 ms."""


def oven_drift_rule(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    data = tmp_path_factory.mktemp("demo")
    config = demo_agent_config(DemoSettings(data=data), data / "token")
    [rule] = [r for r in config["rules"] if r["kind"] == "drift" and r["tag"] == "oven.zone2"]
    return {k: v for k, v in rule.items() if k not in ("name", "tag")}


def zone2(plant: Plant, seconds: float) -> list[tuple[float, float]]:
    readings = []
    for i in range(int(seconds / STEP)):
        plant.step(STEP)
        if i % SAMPLE_EVERY == 0:
            value = plant.values()["oven.zone2"]
            assert isinstance(value, float)
            readings.append((round(plant.time, 1), value))
    return readings


@pytest.mark.parametrize("seed", range(1, 6))
def test_an_oven_zone_on_target_raises_no_drift_alarm(
    seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    rule = oven_drift_rule(tmp_path_factory)
    assert play(detector_for(rule), list(zone2(Plant(seed=seed), 900))) == []


def test_the_drift_fault_is_caught_within_a_minute(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    plant = Plant(seed=3)
    before = zone2(plant, 30)
    plant.inject(Fault.DRIFT)
    transitions = play(detector_for(oven_drift_rule(tmp_path_factory)), before + zone2(plant, 90))
    assert transitions and transitions[0][1:] == ("high", True)
    assert 30 < transitions[0][0] < 90
