"""The sender: takes due deliveries from the durable queue, POSTs them signed, records each
attempt, and schedules a retry with exponential backoff until ``max_attempts``.

Deliveries are at least once: a hub killed between a receiver's 2xx and the commit of that
attempt sends the delivery again after the restart (receivers de-duplicate on the
``X-Floorgate-Delivery`` header). Order across events is not guaranteed; bodies carry
``occurred_at``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from hub.config import WebhooksConfig
from hub.deps import Clock
from hub.storage import Connection, Database
from hub.webhooks import repository
from hub.webhooks.schemas import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from hub.webhooks.service import backoff, sign

logger = logging.getLogger(__name__)

BATCH = 50
"""Deliveries sent concurrently per pass; the rest wait for the next pass."""
MAX_ERROR_CHARS = 500


class WebhookSender:
    """Args:
    db: the hub's database (the queue).
    clock: the hub's clock: due times and backoff are on it, so tests move it instead of sleeping.
    config: timeouts, attempts and backoff.
    client: the HTTP client (the sender owns one made from ``config`` when none is given).
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        config: WebhooksConfig,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.client = client or httpx.AsyncClient(
            timeout=config.timeout_seconds, follow_redirects=False
        )
        self.wake = asyncio.Event()
        """Set after committing new deliveries so they go out without waiting for a poll."""
        self.sent = 0
        self.failed_attempts = 0

    async def deliver_due(self) -> int:
        """Send every delivery due now (up to ``BATCH``); returns how many were attempted."""
        now = self.clock()
        due = await self.db.read(lambda cur: repository.due(cur, now, BATCH))
        if not due:
            return 0
        targets = await self.db.read(
            lambda cur: repository.secrets(cur, sorted({d[1] for d in due}))
        )
        async with asyncio.TaskGroup() as group:
            for delivery in due:
                target = targets.get(delivery[1])
                if target is not None:
                    group.create_task(self._send(delivery, *target))
        return len(due)

    async def _send(self, delivery: repository.DueDelivery, url: str, secret: str) -> None:
        delivery_id, _, event_id, event, body, attempts = delivery
        attempt = attempts + 1
        raw = body.encode("utf-8")
        timestamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, timestamp, raw),
            TIMESTAMP_HEADER: str(timestamp),
            EVENT_HEADER: event,
            DELIVERY_HEADER: str(delivery_id),
            "User-Agent": "floorgate-hub",
        }
        status_code: int | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            reply = await self.client.post(url, content=raw, headers=headers)
            status_code = reply.status_code
            if not reply.is_success:
                error = f"HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        duration_ms = (time.perf_counter() - started) * 1000
        now = self.clock()
        if error is None:
            status, next_at = "delivered", now
            self.sent += 1
        elif attempt >= self.config.max_attempts:
            status, next_at = "failed", now
            self.failed_attempts += 1
            logger.warning(
                "webhook delivery %d (%s, event %s) failed for good after %d attempts: %s",
                delivery_id,
                url,
                event_id,
                attempt,
                error,
            )
        else:
            status = "pending"
            next_at = now + backoff(
                attempt, self.config.backoff_seconds, self.config.max_backoff_seconds
            )
            self.failed_attempts += 1

        def record(conn: Connection) -> None:
            repository.record_attempt(
                conn, delivery_id, attempt, now, status_code, error, duration_ms, status, next_at
            )

        await self.db.write(record)

    async def run(self) -> None:
        """Deliver until cancelled; a failing pass is logged once, then retried."""
        failing = False
        while True:
            self.wake.clear()
            try:
                while await self.deliver_due() == BATCH:
                    pass
                if failing:
                    logger.info("webhook sender recovered")
                    failing = False
            except Exception:
                if not failing:
                    logger.exception("webhook sender pass failed; retrying")
                    failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.config.poll_seconds)


@asynccontextmanager
async def running(
    db: Database, clock: Clock, config: WebhooksConfig
) -> AsyncIterator[WebhookSender]:
    """A sender delivering in a task until the context ends (the lifespan owns both)."""
    sender = WebhookSender(db, clock, config)
    task = asyncio.create_task(sender.run(), name="webhook-sender")
    try:
        yield sender
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sender.client.aclose()
