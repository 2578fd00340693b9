"""Losing the MQTT broker marks every tag the source delivered bad, wildcard tags included, with
one comm.lost and one comm.restored per outage: a real mosquitto, stopped and restarted by PID,
the real adapter, supervisor, pipeline and buffer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest

from edge_agent.app import Agent, open_source
from edge_agent.buffer import Buffer
from edge_agent.config import AgentConfig
from edge_agent.read import SourceSupervisor
from protocols.base import Source
from protocols.config import MqttSource
from protocols.wire import Event, EventType, Quality
from tests.protocols.mosquitto import Mosquitto, RawClient

WILDCARD = "plant/+/temp"
DYNAMIC = ("line1/plant/press/temp", "line1/plant/oven/temp")
EXPLICIT = "speed"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path)
    server.start()
    yield server
    server.stop()


def _config(tmp_path: Path, port: int) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "agent_id": "line1",
            "hub": {"url": "http://127.0.0.1:9"},  # never contacted: only the source runs
            "buffer": {"path": str(tmp_path / "agent.sqlite")},
            "sources": [
                {
                    "kind": "mqtt",
                    "name": "broker",
                    "host": "127.0.0.1",
                    "port": port,
                    "client_id": "comm-loss-test",
                    "timeout": 2,
                    "subscriptions": [
                        {"topic": WILDCARD, "payload": {"format": "plain", "tag_prefix": "line1/"}},
                        {"topic": "line1/speed", "payload": {"format": "plain", "tag": EXPLICIT}},
                    ],
                }
            ],
            "panel": {"enabled": False},
        }
    )


@contextlib.asynccontextmanager
async def _supervised(config: AgentConfig) -> AsyncIterator[tuple[Agent, list[int]]]:
    """The agent's pipeline fed by one supervised MQTT source (quick backoff for the test);
    yields the agent and a list that grows by one per connection attempt."""
    (source,) = config.sources
    assert isinstance(source, MqttSource)
    attempts: list[int] = []

    def connect() -> AbstractAsyncContextManager[Source]:
        attempts.append(1)
        return open_source(source)

    buffer = Buffer(config.buffer.path, config.agent_id)
    try:
        async with httpx.AsyncClient() as client:
            agent = Agent(config, "token", client, buffer)
            supervisor = SourceSupervisor(
                source.name,
                [tag for _, tag in source.tag_paths()],
                connect,
                agent.pipeline.on_readings,
                agent.pipeline.on_comm,
                max_backoff=0.3,
            )
            async with asyncio.TaskGroup() as group:
                task = group.create_task(supervisor.run())
                try:
                    yield agent, attempts
                finally:
                    task.cancel()
    finally:
        buffer.close()


def _events(agent: Agent) -> list[Event]:
    return sorted(agent.buffer.events_now(10_000), key=lambda e: e.seq)


async def _until(predicate: Callable[[], object], what: str, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - a file and a thread's list: no event to await
            await asyncio.sleep(0.05)
    assert predicate(), what


async def _publish_all(port: int) -> None:
    def publish() -> None:
        client = RawClient(port)
        try:
            for topic in ("plant/press/temp", "plant/oven/temp", "line1/speed"):
                client.publish(topic, b"21.5")
        finally:
            client.close()

    await asyncio.to_thread(publish)


async def test_broker_loss_marks_wildcard_tags_bad_once_and_restores(
    broker: Mosquitto, tmp_path: Path
) -> None:
    config = _config(tmp_path, broker.port)
    async with _supervised(config) as (agent, attempts):

        def good(tag: str) -> bool:
            return any(e.tag == tag and e.quality is Quality.GOOD for e in _events(agent))

        async def until_all_good() -> None:
            # The subscription is made on connect: publish until every tag has come through.
            async with asyncio.timeout(10):
                while not all(good(tag) for tag in (*DYNAMIC, EXPLICIT)):
                    await _publish_all(broker.port)
                    await asyncio.sleep(0.1)

        await until_all_good()
        broker.stop()  # SIGTERM by PID
        await _until(
            lambda: any(e.type is EventType.COMM_LOST for e in _events(agent)), "comm.lost"
        )
        bad = {
            e.tag: e.context.get("reason")
            for e in _events(agent)
            if e.type is EventType.VALUE and e.quality is Quality.BAD
        }
        assert set(bad) == {*DYNAMIC, EXPLICIT}
        assert all("connection lost" in str(reason) for reason in bad.values()), bad
        # Reconnects keep failing while the broker is down; the hub hears of the loss once.
        lost_at = len(attempts)
        await _until(lambda: len(attempts) >= lost_at + 3, "three reconnect attempts")
        assert [e.type for e in _events(agent)].count(EventType.COMM_LOST) == 1

        broker.start()

        def comm() -> list[EventType]:
            kinds = (EventType.COMM_LOST, EventType.COMM_RESTORED)
            return [e.type for e in _events(agent) if e.type in kinds]

        async with asyncio.timeout(15):
            while EventType.COMM_RESTORED not in comm():
                await _publish_all(broker.port)
                await asyncio.sleep(0.1)
        assert comm() == [EventType.COMM_LOST, EventType.COMM_RESTORED]
        last = {e.tag: e.quality for e in _events(agent) if e.type is EventType.VALUE}
        assert all(last[tag] is Quality.GOOD for tag in (*DYNAMIC, EXPLICIT)), last
