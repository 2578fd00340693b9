"""The agent: read -> detect -> buffer -> forward, every stage a task in one TaskGroup.

Read this module first. Each source is polled by its own supervisor, so a dead device never
slows a healthy one; each scan goes through the detectors and lands in the durable buffer
before the next scan starts; the forwarder drains the buffer to the hub independently.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections import defaultdict
from contextlib import AbstractAsyncContextManager
from functools import partial

import httpx

from edge_agent.alarms import AlarmBook
from edge_agent.buffer import Buffer, Draft
from edge_agent.config import AgentConfig
from edge_agent.detect import ThresholdDetector
from edge_agent.forward import Forwarder
from edge_agent.read import SourceSupervisor
from protocols.base import Reading, Source
from protocols.config import SourceConfig
from protocols.wire import EventType, Quality, utc_now

log = logging.getLogger(__name__)


class AgentError(Exception):
    """The agent cannot start (e.g. no token); the message says what to fix."""


def read_token(config: AgentConfig) -> str:
    """The hub token from ``hub.token_file``, else from the variable named by ``hub.token_env``."""
    link = config.hub
    if link.token_file is not None:
        try:
            token = link.token_file.read_text().strip()
        except OSError as exc:
            raise AgentError(f"hub.token_file: cannot read {link.token_file}: {exc}") from exc
    else:
        token = os.environ.get(link.token_env, "").strip()
    if not token:
        raise AgentError(
            f"no hub token: set hub.token_file or the environment variable {link.token_env}"
        )
    return token


def open_source(config: SourceConfig) -> AbstractAsyncContextManager[Source]:
    """A new adapter for the source; protocol libraries are imported only when used."""
    from protocols.modbus import ModbusTcp

    return ModbusTcp(config)


class Pipeline:
    """Detect on every scan and make the results durable before the next scan starts."""

    def __init__(self, config: AgentConfig, buffer: Buffer, forwarder: Forwarder) -> None:
        self._buffer = buffer
        self._forwarder = forwarder
        self._alarms = AlarmBook()
        self._detectors: dict[str, list[ThresholdDetector]] = defaultdict(list)
        for rule in config.rules:
            self._detectors[rule.tag].append(ThresholdDetector(rule))

    async def on_readings(self, readings: list[Reading]) -> None:
        drafts = [
            self._alarms.draft(transition)
            for reading in readings
            for detector in self._detectors.get(reading.tag, ())
            for transition in detector.update(reading)
        ]
        await self._append(drafts)

    async def on_comm(self, source: str, tags: list[str], up: bool, reason: str) -> None:
        now = utc_now()
        event_type = EventType.COMM_RESTORED if up else EventType.COMM_LOST
        quality = Quality.GOOD if up else Quality.BAD
        await self._append(
            [Draft(event_type, now, quality=quality, context={"source": source, "reason": reason})]
        )
        if not up:
            await self.on_readings([Reading(tag, None, Quality.BAD, now, now) for tag in tags])

    async def _append(self, drafts: list[Draft]) -> None:
        if drafts:
            await self._buffer.append(drafts)
            self._forwarder.notify_urgent()


async def run_agent(config: AgentConfig, token: str) -> None:
    """Run until cancelled or until SIGINT/SIGTERM; the buffer survives whatever happens."""
    buffer = Buffer(config.buffer.path, config.agent_id, config.buffer.max_bytes)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with httpx.AsyncClient() as client:
            forwarder = Forwarder(buffer, config.hub, token, client)
            pipeline = Pipeline(config, buffer, forwarder)
            log.info(
                "agent %s started: %d source(s), %d rule(s), %d event(s) waiting in %s",
                config.agent_id,
                len(config.sources),
                len(config.rules),
                (await buffer.stats()).depth,
                config.buffer.path,
            )
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(forwarder.run())]
                for source in config.sources:
                    supervisor = SourceSupervisor(
                        source.name,
                        [tag.name for tag in source.tags],
                        partial(open_source, source),
                        pipeline.on_readings,
                        pipeline.on_comm,
                    )
                    tasks.append(group.create_task(supervisor.run()))
                await stop.wait()
                log.info("agent stopping")
                for task in tasks:
                    task.cancel()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        buffer.close()
    log.info("agent stopped")
