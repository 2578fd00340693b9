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
from dataclasses import replace
from functools import partial

import httpx

from edge_agent.alarms import AlarmBook
from edge_agent.buffer import Buffer, Draft
from edge_agent.config import AgentConfig
from edge_agent.detect import ThresholdDetector
from edge_agent.forward import Forwarder
from edge_agent.health import health_draft
from edge_agent.read import SourceSupervisor
from edge_agent.report import ValueReporter
from protocols.base import Reading, Source
from protocols.config import SourceConfig
from protocols.wire import EventType, Quality, Scalar, utc_now

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
    """Detect and report on every scan; its events are on disk before the next scan starts."""

    def __init__(self, config: AgentConfig, buffer: Buffer, forwarder: Forwarder) -> None:
        self._buffer = buffer
        self._forwarder = forwarder
        self._alarms = AlarmBook()
        self._reporter = ValueReporter(config.report)
        # Every event says where it happened, so the hub can scope it without a lookup.
        self._location: dict[str, Scalar] = {"site": config.site, "area": config.area}
        if config.line is not None:
            self._location["line"] = config.line
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
        urgent = bool(drafts)
        drafts.extend(draft for r in readings if (draft := self._reporter.update(r)) is not None)
        await self._append(drafts, urgent)

    async def on_comm(self, source: str, tags: list[str], up: bool, reason: str) -> None:
        now = utc_now()
        event_type = EventType.COMM_RESTORED if up else EventType.COMM_LOST
        quality = Quality.GOOD if up else Quality.BAD
        context: dict[str, Scalar] = {"source": source, "reason": reason}
        await self._append([Draft(event_type, now, quality=quality, context=context)], True)
        if not up:
            await self.on_readings([Reading(tag, None, Quality.BAD, now, now) for tag in tags])

    async def report_health(self, draft: Draft) -> None:
        await self._append([draft], False)

    async def _append(self, drafts: list[Draft], urgent: bool) -> None:
        if not drafts:
            return
        await self._buffer.append(
            [replace(d, context={**self._location, **d.context}) for d in drafts]
        )
        if urgent:
            self._forwarder.notify_urgent()


async def _health_loop(
    config: AgentConfig,
    buffer: Buffer,
    pipeline: Pipeline,
    forwarder: Forwarder,
    supervisors: list[SourceSupervisor],
) -> None:
    started = utc_now()
    while True:
        await asyncio.sleep(config.health_interval)
        draft = health_draft(
            utc_now(),
            started,
            await buffer.stats(),
            {s.name: s.up for s in supervisors},
            forwarder.hub_reachable,
            forwarder.sent,
        )
        await pipeline.report_health(draft)


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
            supervisors = [
                SourceSupervisor(
                    source.name,
                    [tag.name for tag in source.tags],
                    partial(open_source, source),
                    pipeline.on_readings,
                    pipeline.on_comm,
                )
                for source in config.sources
            ]
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(forwarder.run()),
                    group.create_task(
                        _health_loop(config, buffer, pipeline, forwarder, supervisors)
                    ),
                    *(group.create_task(supervisor.run()) for supervisor in supervisors),
                ]
                await stop.wait()
                log.info("agent stopping")
                for task in tasks:
                    task.cancel()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        buffer.close()
    log.info("agent stopped")
