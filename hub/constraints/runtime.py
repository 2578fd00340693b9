"""The feeds runtime the lifespan owns: the feeds pump and the webhook sender.

The pump, every ``feeds.poll_seconds`` and whenever a service wakes it after a commit:
derives constraints from alarms and holds, sends plans and hold lists to agents that are not up
to date (new agents, ended plan entries, holds placed by other services), and publishes the
constraint changes committed since its last pass to live subscribers, in id order. Writes are
made only when a read finds work. Routes reach the runtime as ``FeedsDep``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from hub.config import HubConfig
from hub.constraints import repository, service
from hub.constraints.bus import ConstraintBus
from hub.deps import Clock
from hub.plans import sync
from hub.storage import Connection, Database
from hub.webhooks.sender import WebhookSender
from hub.webhooks.sender import running as sending

logger = logging.getLogger(__name__)

PUBLISH_BATCH = 1000


@dataclass
class Feeds:
    """Args:
    db: the hub's database.
    clock: the hub's clock.
    config: the hub's configuration (``feeds``, ``streams``).
    sender: the webhook sender.
    """

    db: Database
    clock: Clock
    config: HubConfig
    sender: WebhookSender
    bus: ConstraintBus = field(default_factory=ConstraintBus)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    published_up_to: int = 0
    """The last constraint change id handed to the bus."""
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def committed(self) -> None:
        """Call after a commit that may have changed constraints, plans, holds or webhooks."""
        self.wake.set()
        self.sender.wake.set()

    async def catch_up(self) -> None:
        async with self._lock:
            now = self.clock()
            rules = self.config.feeds.constraint_rules
            if await self.db.read(lambda cur: service.out_of_step(cur, rules)):
                changed = await self.db.write(lambda conn: service.derive(conn, rules, now))
                if changed:
                    self.sender.wake.set()
            if await self.db.read(lambda cur: bool(sync.pending(cur, now))):
                await self.db.write(lambda conn: sync.sync_agents(conn, now))
            await self._publish()

    async def _publish(self) -> None:
        while True:
            changes = await self.db.read(
                functools.partial(
                    repository.changes_after, after=self.published_up_to, limit=PUBLISH_BATCH
                )
            )
            if not changes:
                return
            self.bus.publish(changes)
            self.published_up_to = changes[-1].id
            if len(changes) < PUBLISH_BATCH:
                return

    async def run(self) -> None:
        """The pump loop, until cancelled; a failing pass is logged once, then retried."""
        failing = False
        while True:
            self.wake.clear()
            try:
                await self.catch_up()
                if failing:
                    logger.info("feeds pump recovered")
                    failing = False
            except Exception:
                if not failing:
                    logger.exception("feeds pump pass failed; retrying")
                    failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.config.feeds.poll_seconds)


@asynccontextmanager
async def running(db: Database, clock: Clock, config: HubConfig) -> AsyncIterator[Feeds]:
    """Start the webhook sender and the feeds pump; both stop when the context ends."""
    async with sending(db, clock, config.webhooks) as sender:
        feeds = Feeds(db, clock, config, sender, ConstraintBus(config.streams.max_queued))

        def last(cur: Connection) -> int:
            return repository.last_change_id(cur)

        # Live subscribers get changes from now on; earlier ones are in the database (resume).
        feeds.published_up_to = await db.read(last)
        task = asyncio.create_task(feeds.run(), name="feeds-pump")
        try:
            yield feeds
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def get_feeds(request: Request) -> Feeds:
    feeds = request.state.feeds
    assert isinstance(feeds, Feeds)
    return feeds


FeedsDep = Annotated[Feeds, Depends(get_feeds)]
