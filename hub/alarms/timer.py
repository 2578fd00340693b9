"""The durable shelve timer: shelve ends live in the database, so a restart loses none.

The lifespan runs one pass before the hub accepts requests (catching up on expiries while the
hub was down), then this loop, which sleeps until the next expiry or ``poll_seconds``,
whichever is sooner, or until ``wakeup`` is set (a new shelve may end sooner).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hub.alarms import service
from hub.deps import Clock
from hub.storage import Database
from hub.streams.bus import AlarmBus

logger = logging.getLogger(__name__)


async def run(
    db: Database, bus: AlarmBus, clock: Clock, poll_seconds: float, wakeup: asyncio.Event
) -> None:
    """Unshelve expired alarms until cancelled."""
    failing = False
    while True:
        now = clock()
        delay = poll_seconds
        try:
            await service.expire_shelves(db, bus, now)
            next_end = await service.next_shelve_expiry(db)
            if next_end is not None:
                delay = min(poll_seconds, max(0.0, (next_end - now).total_seconds()))
            if failing:
                logger.info("shelve timer recovered")
                failing = False
        except Exception:
            # The loop must outlive a bad pass (a full disk, say): log the state change once.
            if not failing:
                logger.exception("shelve timer pass failed; retrying every %s s", poll_seconds)
                failing = True
        wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), timeout=delay)
