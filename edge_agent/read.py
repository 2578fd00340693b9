"""Polls one source for as long as the agent runs, reconnecting with capped, jittered backoff.

The adapter raises; this loop decides. A device down all weekend gives one "down" line and one
"recovered" line in the log, and one comm.lost / comm.restored pair to the hub. When it goes
down, every tag it has delivered is marked bad: the configured ones, and those only the source
knows (an MQTT wildcard subscription names its tags after the topics that arrive).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from protocols.base import ConnectError, ProtocolError, Reading, Source
from protocols.wire import Scalar

log = logging.getLogger(__name__)

ReadingSink = Callable[[list[Reading]], Awaitable[None]]


class CommListener(Protocol):
    async def __call__(self, source: str, tags: list[str], up: bool, reason: str) -> None: ...


class SourceSupervisor:
    """Owns one source's poll loop.

    Args:
        name: The source's name, for logs and comm events.
        tags: The source's tags, marked bad while it is down.
        open_source: Makes a new, unopened adapter; called again for every reconnect.
        on_readings: Receives every scan; awaited, so a slow buffer slows polling, never memory.
        on_comm: Told once per transition when the source goes down or comes back.
        max_backoff: Cap of the reconnect delay in seconds.
    """

    def __init__(
        self,
        name: str,
        tags: list[str],
        open_source: Callable[[], AbstractAsyncContextManager[Source]],
        on_readings: ReadingSink,
        on_comm: CommListener,
        max_backoff: float = 30.0,
    ) -> None:
        self.name = name
        self._tags = dict.fromkeys(tags)  # ordered, no repeats
        self._open = open_source
        self._on_readings = on_readings
        self._on_comm = on_comm
        self._max_backoff = max_backoff
        self.up: bool | None = None
        self._source: Source | None = None

    @property
    def tags(self) -> list[str]:
        """The configured tags, then those the source has delivered besides."""
        return list(self._tags)

    async def write(self, tag: str, value: Scalar) -> None:
        """Write through the open connection; a source that is down refuses at once."""
        if self._source is None:
            raise ConnectError(f"source {self.name} is not connected")
        await self._source.write(tag, value)

    async def run(self) -> None:
        while True:
            # A fresh retry state after every session that worked: backoff starts small again.
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(ProtocolError),
                wait=wait_exponential_jitter(multiplier=0.5, max=self._max_backoff),
            ):
                with attempt:
                    await self._session()

    async def _session(self) -> None:
        """Connect and poll until the device fails; raise if it never answered."""
        answered = False
        try:
            async with self._open() as source:
                self._source = source
                try:
                    async for readings in source.scans():
                        answered = True
                        await self._mark(up=True, reason="")
                        await self._on_readings(readings)
                finally:
                    self._source = None
                    # Asked once per session, not per reading: the hot path stays as it is.
                    self._tags.update(dict.fromkeys(source.tags()))
        except ProtocolError as exc:
            await self._mark(up=False, reason=str(exc))
            if not answered:
                raise

    async def _mark(self, *, up: bool, reason: str) -> None:
        if self.up is up:
            return
        if up:
            log.info("source %s up", self.name)
        else:
            log.warning("source %s down: %s", self.name, reason)
        first_contact = self.up is None and up
        self.up = up
        if not first_contact:
            await self._on_comm(self.name, self.tags, up, reason)
