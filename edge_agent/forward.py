"""Forwards buffered events to the hub; an event leaves the buffer only once the hub has it.

Alarm and communication events are urgent: ``notify_urgent`` sends them at once. Other events
go out in batches at most ``batch_age`` old. Failures back off with capped, jittered delays.
The hub's commands ride back on the ingest reply; when there is nothing to send for
``poll_interval``, an empty batch asks for them (the agent only ever connects outward).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
from collections.abc import Awaitable, Callable

import httpx
from pydantic import ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from edge_agent.buffer import Buffer, Pending
from edge_agent.config import HubLink
from protocols.wire import Command, IngestReply

log = logging.getLogger(__name__)

INGEST_PATH = "/api/v1/ingest"


class ForwardError(Exception):
    """The hub did not take a batch; it stays in the buffer and is sent again."""


class Forwarder:
    """Drains the buffer into ``POST /api/v1/ingest``.

    Args:
        buffer: The outbox to drain.
        link: Hub address and batching settings.
        token: The agent's bearer token.
        client: An httpx client the caller owns (and closes).
        on_commands: Receives the commands of every reply, after its events are settled.
    """

    def __init__(
        self,
        buffer: Buffer,
        link: HubLink,
        token: str,
        client: httpx.AsyncClient,
        on_commands: Callable[[list[Command]], Awaitable[None]] | None = None,
    ) -> None:
        self._buffer = buffer
        self._link = link
        self._url = link.url.rstrip("/") + INGEST_PATH
        self._headers = {"Authorization": f"Bearer {token}"}
        self._client = client
        self._urgent = asyncio.Event()
        self._on_commands = on_commands
        self._last_contact = 0.0
        self.hub_reachable: bool | None = None
        self.sent = 0

    def notify_urgent(self) -> None:
        self._urgent.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._urgent.wait(), timeout=self._link.batch_age)
            self._urgent.clear()
            await self.drain()
            loop = asyncio.get_running_loop()
            if loop.time() - self._last_contact >= self._link.poll_interval:
                await self._send([])

    async def drain(self) -> None:
        """Send until the buffer is empty, retrying each batch until the hub takes it."""
        while batch := await self._buffer.pending(self._link.batch_max):
            await self._send(batch)
            if len(batch) < self._link.batch_max:
                return

    async def _send(self, batch: list[Pending]) -> None:
        """Post one batch until the hub takes it, then settle it and hand on the commands."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(ForwardError),
            wait=wait_exponential_jitter(multiplier=0.5, max=self._link.retry_max),
        ):
            with attempt:
                reply = await self._post(batch)
        self._last_contact = asyncio.get_running_loop().time()
        await self._settle(batch, reply)
        if reply.commands and self._on_commands is not None:
            await self._on_commands(reply.commands)

    async def _post(self, batch: list[Pending]) -> IngestReply:
        # The body of an IngestRequest, assembled from the events' stored wire JSON.
        events = ",".join(pending.json for pending in batch)
        body = f'{{"agent_id":"{self._buffer.agent_id}","events":[{events}]}}'.encode()
        headers = {**self._headers, "Content-Type": "application/json"}
        if self._link.gzip:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        try:
            response = await self._client.post(
                self._url, content=body, headers=headers, timeout=self._link.timeout
            )
        except httpx.HTTPError as exc:
            self._reachable(False, f"{type(exc).__name__}: {exc}")
            raise ForwardError(str(exc)) from exc
        if response.status_code != 200:
            self._reachable(False, f"HTTP {response.status_code}: {response.text[:200]}")
            raise ForwardError(f"hub answered {response.status_code}")
        try:
            reply = IngestReply.model_validate_json(response.content)
        except ValidationError as exc:
            self._reachable(False, "reply is not an ingest reply")
            raise ForwardError("unreadable reply") from exc
        self._reachable(True, "")
        return reply

    async def _settle(self, batch: list[Pending], reply: IngestReply) -> None:
        await self._buffer.confirm([*reply.accepted, *reply.duplicates])
        self.sent += len(reply.accepted)
        if reply.rejected:
            refused = {batch[item.index].event_id: item.reason for item in reply.rejected}
            for event_id, reason in refused.items():
                log.error("hub rejected event %s: %s (moved to dead letters)", event_id, reason)
            await self._buffer.dead_letter(refused)

    def _reachable(self, ok: bool, reason: str) -> None:
        if self.hub_reachable is ok:
            return
        self.hub_reachable = ok
        if ok:
            log.info("hub reachable at %s", self._url)
        else:
            log.warning("hub not taking events (%s); buffering", reason)
