"""The agent: read -> detect -> alarm -> buffer -> forward, every stage a task in one TaskGroup.

Read this module first. Each source is polled by its own supervisor, so a dead device never
slows a healthy one; each scan goes through the detectors, the alarm board and the value
reporter, and its events are on disk before the next scan starts; the forwarder drains the
buffer to the hub on its own and hands the hub's commands to the command handler; the local
panel serves alarms and metrics even while the hub is unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

import httpx

from edge_agent.alarms import FLAGS, AlarmBoard, Flag, Occurrence, dump_board, load_board
from edge_agent.buffer import Buffer, Draft
from edge_agent.commands import CommandHandler
from edge_agent.config import AgentConfig
from edge_agent.detect import Detector, build_detectors, by_tag
from edge_agent.forward import Forwarder
from edge_agent.health import health_draft
from edge_agent.memory import trim_loop
from edge_agent.metrics import render_metrics
from edge_agent.panel import Panel, PanelActions
from edge_agent.plans import MemoryPlanBook
from edge_agent.read import SourceSupervisor
from edge_agent.report import ValueReporter
from floorgate.configfile import ConfigError
from protocols.base import ConnectError, Reading, Source
from protocols.config import MqttSource, OpcUaSource, SourceConfig
from protocols.wire import Command, EventType, Quality, Scalar, utc_now

log = logging.getLogger(__name__)

ALARM_STATE_KEY = "alarm_board"
TICK_SECONDS = 1.0
READBACK_SECONDS = 10.0


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
    if isinstance(config, MqttSource):
        from protocols.mqtt import Mqtt

        return Mqtt(config)
    if isinstance(config, OpcUaSource):
        from protocols.opcua import OpcUa

        return OpcUa(config)
    from protocols.modbus import ModbusDevice

    return ModbusDevice(config)


def hub_client(url: str) -> httpx.AsyncClient:
    """The client the forwarder posts with. Over https it verifies the hub's certificate
    against the CA bundle; over plain http it has nothing to verify, and leaving the bundle
    unloaded saves about 3 MB resident (OpenSSL's parsed copy of some 150 certificates).
    Redirects are not followed, so such a client never opens a TLS connection."""
    if url.startswith("https://"):
        return httpx.AsyncClient()
    return httpx.AsyncClient(verify=False)


class Pipeline:
    """Detect, alarm and report on every scan; its events are on disk before the next scan.

    It is also what commands and the panel act on: acknowledgements, shelving, writes.
    """

    def __init__(
        self,
        config: AgentConfig,
        buffer: Buffer,
        forwarder: Forwarder,
        alarms: AlarmBoard,
        detectors: list[Detector],
        supervisors: dict[str, SourceSupervisor],
    ) -> None:
        self._buffer = buffer
        self._forwarder = forwarder
        self.alarms = alarms
        self._detectors = detectors
        self._routes = by_tag(detectors)
        self._reporter = ValueReporter(config.report)
        self._writers = supervisors
        self._readback: dict[str, asyncio.Future[Scalar]] = {}
        # Every event says where it happened, so the hub can scope it without a lookup.
        self._location: dict[str, Scalar] = {"site": config.site, "area": config.area}
        if config.line is not None:
            self._location["line"] = config.line

    async def on_readings(self, readings: list[Reading]) -> None:
        drafts = [
            draft
            for reading in readings
            for detector in self._routes.get(reading.tag, ())
            for transition in detector.update(reading)
            for draft in self.alarms.on_transition(transition)
        ]
        alarms_changed = bool(drafts)
        drafts.extend(draft for r in readings if (draft := self._reporter.update(r)) is not None)
        await self._append(drafts, urgent=alarms_changed, alarms_changed=alarms_changed)
        for reading in readings:
            if (waiting := self._readback.pop(reading.tag, None)) and not waiting.done():
                waiting.set_result(reading.value)

    async def on_comm(self, source: str, tags: list[str], up: bool, reason: str) -> None:
        now = utc_now()
        event_type = EventType.COMM_RESTORED if up else EventType.COMM_LOST
        quality = Quality.GOOD if up else Quality.BAD
        context: dict[str, Scalar] = {"source": source, "reason": reason}
        await self._append([Draft(event_type, now, quality=quality, context=context)], urgent=True)
        if not up:
            why: dict[str, Scalar] = {"reason": reason}
            await self.on_readings([Reading(tag, None, Quality.BAD, now, now, why) for tag in tags])

    async def tick(self) -> None:
        """Time-driven rules (stale values, delays, plans) and shelving expiry."""
        now = utc_now()
        drafts = [
            draft
            for detector in self._detectors
            for transition in detector.tick(now)
            for draft in self.alarms.on_transition(transition)
        ]
        drafts.extend(self.alarms.tick(now))
        await self._append(drafts, urgent=bool(drafts), alarms_changed=bool(drafts))

    def plans_changed(self) -> None:
        """Plan and hold rules re-evaluate at the next tick, within a second."""

    async def acknowledge(self, occurrence: str, by: str, note: str | None, channel: str) -> None:
        """An acknowledgement from the local panel or the hub (raises ``AlarmError``)."""
        drafts = self.alarms.acknowledge(occurrence, by, note, channel, utc_now())
        await self._append(drafts, urgent=True, alarms_changed=True)

    async def shelve_for(self, rule: str, duration: timedelta | None, reason: str, by: str) -> None:
        """Shelve from the panel for ``duration`` (None unshelves); the hub is told by event."""
        now = utc_now()
        if duration is None:
            drafts = self.alarms.unshelve(rule, reason=reason, by=by, at=now)
        else:
            drafts = self.alarms.shelve(rule, now + duration, reason=reason, by=by, at=now)
        await self._append(drafts, urgent=True, alarms_changed=True)

    async def set_flags(
        self, rule: str, suppressed: bool, out_of_service: bool, by: str, reason: str | None = None
    ) -> None:
        """Suppress or take an alarm out of service (ISA-18.2) from the panel: its events say so
        from now on, and the hub is told by event."""
        now = utc_now()
        wanted = {"suppressed": suppressed, "out_of_service": out_of_service}
        drafts = [
            draft
            for flag in FLAGS
            for draft in self.alarms.set_flag(
                rule, flag, wanted[flag], reason=reason, by=by, at=now
            )
        ]
        if drafts:
            log.info(
                "alarm %s: suppressed=%s out_of_service=%s (by %s)",
                rule,
                suppressed,
                out_of_service,
                by,
            )
        await self._append(drafts, urgent=True, alarms_changed=True)

    async def follow_shelve(
        self,
        rule: str,
        until: datetime | None,
        before: datetime | None,
        reason: str,
        by: str,
        issued_at: datetime,
    ) -> str:
        """A shelve or unshelve made at the hub (raises ``AlarmError``); returns what was done."""
        done = self.alarms.follow_hub_shelve(
            rule, until, before=before, reason=reason, by=by, issued_at=issued_at, at=utc_now()
        )
        await self._append([], urgent=False, alarms_changed=True)
        return done

    async def follow_flag(self, rule: str, flag: Flag, on: bool, issued_at: datetime) -> str:
        """A suppress / out-of-service change made at the hub; returns what was done."""
        done = self.alarms.follow_hub_flag(rule, flag, on, issued_at=issued_at)
        await self._append([], urgent=False, alarms_changed=True)
        return done

    def resume_alarms(self, why: str) -> list[Draft]:
        """After a restart (or reload): the rules carry on the occurrences that were active, so
        an alarm acknowledged before the restart is not raised again while its condition lasts.
        Occurrences of rules no longer configured are ended."""
        active = self.alarms.active_rules()
        claimed = {rule for detector in self._detectors for rule in detector.resume(active)}
        return self.alarms.end(active - claimed, utc_now(), f"{why}: its rule is gone")

    async def write(self, tag: str, value: Scalar) -> Scalar:
        """Write a tag through its source, then wait for the value read back by the next scan."""
        supervisor = self._writers.get(tag)
        if supervisor is None:
            raise ConnectError(f"no source reads tag {tag!r}")
        await supervisor.write(tag, value)
        # Waiting starts once the device has confirmed the write, so a scan that was already
        # on its way cannot pass the old value off as the read-back.
        waiting = self._readback[tag] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(waiting, READBACK_SECONDS)
        except TimeoutError as exc:
            raise ConnectError(
                f"{tag}: written, but no read-back within {READBACK_SECONDS}s"
            ) from exc

    async def append_restored(self, drafts: list[Draft]) -> None:
        await self._append(drafts, urgent=bool(drafts), alarms_changed=True)

    async def report_health(self, draft: Draft) -> None:
        await self._append([draft], urgent=False)

    def open_alarms(self) -> list[Occurrence]:
        return self.alarms.open()

    async def _append(
        self, drafts: list[Draft], *, urgent: bool, alarms_changed: bool = False
    ) -> None:
        """Make the events durable, together with the alarm board they changed."""
        state = {ALARM_STATE_KEY: dump_board(self.alarms)} if alarms_changed else None
        if not drafts and state is None:
            return
        await self._buffer.append(
            [replace(d, context={**self._location, **d.context}) for d in drafts], state
        )
        if urgent:
            self._forwarder.notify_urgent()


class Agent:
    """Every long-lived part of one running agent, built from its config."""

    def __init__(
        self, config: AgentConfig, token: str, client: httpx.AsyncClient, buffer: Buffer
    ) -> None:
        self.config = config
        self.started = utc_now()
        self.buffer = buffer
        self.plans = MemoryPlanBook()
        self.alarms = AlarmBoard(
            max_shelve=timedelta(seconds=config.panel.max_shelve),
            latching=frozenset(r.rule_name for r in config.rules if r.latching),
        )
        self.supervisors = [
            SourceSupervisor(
                source.name,
                [tag for _, tag in source.tag_paths()],
                partial(open_source, source),
                self._on_readings,
                self._on_comm,
            )
            for source in config.sources
        ]
        writers = {
            tag: supervisor
            for source, supervisor in zip(config.sources, self.supervisors, strict=True)
            for tag in source.writable_tags()
        }
        self.commands: CommandHandler | None = None
        self.forwarder = Forwarder(self.buffer, config.hub, token, client, self._on_commands)
        self.pipeline = Pipeline(
            config,
            self.buffer,
            self.forwarder,
            self.alarms,
            build_detectors(config.rules, self.plans),
            writers,
        )
        self.commands = CommandHandler(self.buffer, self.pipeline, self.plans, frozenset(writers))

    async def _on_readings(self, readings: list[Reading]) -> None:
        await self.pipeline.on_readings(readings)

    async def _on_comm(self, source: str, tags: list[str], up: bool, reason: str) -> None:
        await self.pipeline.on_comm(source, tags, up, reason)

    async def _on_commands(self, commands: list[Command]) -> None:
        assert self.commands is not None
        await self.commands.handle(commands)

    async def restore(self, why: str) -> None:
        if saved := await self.buffer.load_state(ALARM_STATE_KEY):
            load_board(self.alarms, saved)
            await self.pipeline.append_restored(self.pipeline.resume_alarms(why))
        assert self.commands is not None
        await self.commands.restore()

    def health(self) -> tuple[dict[str, bool | None], bool | None, int]:
        return (
            {s.name: s.up for s in self.supervisors},
            self.forwarder.hub_reachable,
            self.forwarder.sent,
        )

    async def health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.health_interval)
            sources, reachable, sent = self.health()
            stats = await self.buffer.stats()
            await self.pipeline.report_health(
                health_draft(utc_now(), self.started, stats, sources, reachable, sent)
            )

    async def tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            await self.pipeline.tick()

    async def metrics(self) -> bytes:
        sources, reachable, sent = self.health()
        uptime = (utc_now() - self.started).total_seconds()
        return render_metrics(
            await self.buffer.stats(), sources, reachable, sent, self.alarms.open(), uptime
        )

    def panel(self) -> Panel:
        actions = PanelActions(
            self.pipeline.open_alarms,
            self.pipeline.acknowledge,
            self.pipeline.shelve_for,
            self.metrics,
            self.pipeline.set_flags,
            self.pipeline.alarms.definition,
        )
        settings = self.config.panel
        token = settings.token_file.read_text().strip() if settings.token_file else None
        return Panel(actions, settings.host, settings.port, token)

    async def run(self, stop: asyncio.Event, reload: asyncio.Event) -> None:
        """Run every stage until ``stop`` or ``reload`` is set."""
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(self.forwarder.run()),
                group.create_task(self.health_loop()),
                group.create_task(self.tick_loop()),
                group.create_task(trim_loop()),
                *(group.create_task(s.run()) for s in self.supervisors),
            ]
            if self.config.panel.enabled:
                tasks.append(group.create_task(self.panel().serve()))
            done = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(reload.wait())]
            try:
                await asyncio.wait(done, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (*tasks, *done):
                    task.cancel()


Reloader = Callable[[], AgentConfig]


async def run_agent(config: AgentConfig, token: str, reloader: Reloader | None = None) -> None:
    """Run until SIGINT/SIGTERM (or cancellation); the buffer survives whatever happens.

    SIGHUP re-reads the config through ``reloader`` and restarts sources, rules and panel on it;
    the buffer is never re-created. A config that does not validate, or that names another
    agent or buffer file, is refused and the running one kept.
    """
    stop, reload = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    buffer = Buffer(config.buffer.path, config.agent_id, config.buffer.max_bytes)
    why = "agent restarted"
    try:
        while not stop.is_set():
            # A client per run: a reload may move the hub from http to https.
            async with hub_client(config.hub.url) as client:
                agent = Agent(config, token, client, buffer)
                await agent.restore(why)
                log.info(
                    "agent %s started: %d source(s), %d rule(s), %d event(s) waiting in %s",
                    config.agent_id,
                    len(config.sources),
                    len(config.rules),
                    (await buffer.stats()).depth,
                    config.buffer.path,
                )
                await agent.run(stop, reload)
            if reload.is_set():
                reload.clear()
                config, token = _reloaded(config, token, reloader)
                why = "config reloaded"
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        buffer.close()
    log.info("agent stopped")


def _reloaded(
    config: AgentConfig, token: str, reloader: Reloader | None
) -> tuple[AgentConfig, str]:
    """The new config and token, or the running ones if the new config cannot be used."""
    if reloader is None:
        return config, token
    try:
        new = reloader()
        if (new.agent_id, new.buffer.path) != (config.agent_id, config.buffer.path):
            raise AgentError("agent_id and buffer.path cannot change on reload: restart instead")
        new_token = read_token(new)
    except (AgentError, ConfigError) as exc:
        log.error("config reload refused, keeping the running config: %s", exc)
        return config, token
    log.info("config reloaded")
    return new, new_token
