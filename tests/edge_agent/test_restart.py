"""A restart (or a config reload) carries on the alarm occurrences that were active: an alarm
acknowledged before the restart is not raised again while its condition lasts (ISA-18.2).

The agent's own pipeline, alarm board and SQLite buffer, restarted on the same file; readings
are handed to the pipeline as a source supervisor would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from edge_agent.alarms import AlarmState
from edge_agent.app import Agent
from edge_agent.buffer import Buffer
from edge_agent.config import AgentConfig
from protocols.base import Reading
from protocols.wire import Event, EventType, Quality

TAG = "press.temperature"
HI = {"kind": "threshold", "name": "press-temperature", "tag": TAG, "hi": 80, "deadband": 2}
DRIFT = {
    "kind": "drift",
    "name": "press-drift",
    "tag": TAG,
    "method": "cusum",
    "target": 60,
    "sigma": 1,
}
T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def _config(tmp_path: Path, *rules: dict[str, Any]) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "agent_id": "press-1",
            "hub": {"url": "http://127.0.0.1:9"},  # never contacted: the agent is not run
            "buffer": {"path": str(tmp_path / "agent.sqlite")},
            "sources": [
                {
                    "kind": "modbus_tcp",
                    "name": "plc",
                    "host": "127.0.0.1",
                    "tags": [{"name": TAG, "address": 0, "type": "float32"}],
                }
            ],
            "rules": list(rules),
            "panel": {"enabled": False},
        }
    )


@asynccontextmanager
async def _running(config: AgentConfig) -> AsyncIterator[Agent]:
    """An agent started on its buffer file (restored from it), and stopped again."""
    buffer = Buffer(config.buffer.path, config.agent_id)
    try:
        async with httpx.AsyncClient() as client:
            agent = Agent(config, "token", client, buffer)
            await agent.restore("agent restarted")
            yield agent
    finally:
        buffer.close()


def _reading(value: float, second: float) -> Reading:
    at = T0 + timedelta(seconds=second)
    return Reading(TAG, value, Quality.GOOD, at, at)


def _alarm_events(agent: Agent) -> list[Event]:
    events = sorted(agent.buffer.events_now(10_000), key=lambda e: e.seq)
    return [e for e in events if e.type.value.startswith("alarm.")]


def _kinds(agent: Agent) -> list[tuple[EventType, object]]:
    return [(e.type, e.context["occurrence"]) for e in _alarm_events(agent)]


async def test_an_acknowledged_alarm_continues_across_a_restart(tmp_path: Path) -> None:
    config = _config(tmp_path, HI)
    async with _running(config) as agent:
        await agent.pipeline.on_readings([_reading(85.0, 0)])
        (occurrence,) = agent.alarms.occurrences
        await agent.pipeline.acknowledge(occurrence, "ana", "on it", "agent-panel")

    async with _running(config) as agent:
        # Still there after the restart: the same occurrence, still acknowledged; nothing sent.
        (restored,) = agent.alarms.open()
        assert (restored.id, restored.state) == (occurrence, AlarmState.ACK_ACTIVE)
        await agent.pipeline.on_readings([_reading(86.0, 10), _reading(79.0, 11)])
        assert _kinds(agent) == [
            (EventType.ALARM_RAISED, occurrence),
            (EventType.ALARM_ACKED, occurrence),
        ]
        # Inside the deadband (clears below 78): still the same occurrence. Below it: returns.
        await agent.pipeline.on_readings([_reading(77.0, 12)])
        assert _kinds(agent)[-1] == (EventType.ALARM_CLEARED, occurrence)
        assert agent.alarms.open() == []  # acknowledged and returned: normal


async def test_a_condition_gone_during_the_restart_returns_the_same_occurrence(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, HI, DRIFT)
    async with _running(config) as agent:
        await agent.pipeline.on_readings([_reading(85.0 + i, i) for i in range(8)])
        assert {o.rule for o in agent.alarms.open()} == {"press-temperature.hi", "press-drift.high"}
        before = {o.rule: o.id for o in agent.alarms.open()}

    async with _running(config) as agent:
        await agent.pipeline.on_readings([_reading(60.0, 30)])
        cleared = {
            e.rule: e.context["occurrence"]
            for e in _alarm_events(agent)
            if e.type is EventType.ALARM_CLEARED
        }
        assert cleared == before  # both returned, each as the occurrence it was
        assert all(o.state is AlarmState.RETURNED_UNACK for o in agent.alarms.open())
        raised = [e for e in _alarm_events(agent) if e.type is EventType.ALARM_RAISED]
        assert len(raised) == 2  # the two raises before the restart, no new one


async def test_an_occurrence_whose_rule_was_removed_is_ended_with_a_reason(
    tmp_path: Path,
) -> None:
    async with _running(_config(tmp_path, HI)) as agent:
        await agent.pipeline.on_readings([_reading(85.0, 0)])
        (occurrence,) = agent.alarms.occurrences

    async with _running(_config(tmp_path)) as agent:
        ended = _alarm_events(agent)[-1]
        assert (ended.type, ended.context["occurrence"]) == (EventType.ALARM_CLEARED, occurrence)
        assert ended.context["reason"] == "agent restarted: its rule is gone"
        (kept,) = agent.alarms.open()
        assert kept.state is AlarmState.RETURNED_UNACK  # waits for its acknowledgement
