"""In-process fan-out of committed constraint changes to live SSE subscribers.

The same contract as the alarm stream's bus (hub/streams/bus.py): each subscriber has a bounded
queue; one that falls ``max_queued`` changes behind is dropped (its stream ends with an
``overflow`` event, the client reconnects with ``Last-Event-ID`` and misses nothing, since the
changes are in the database); publishing never blocks. Drops are counted in ``overflows``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from hub.auth.scope import Scope
from hub.constraints.schemas import ConstraintChange
from hub.streams.bus import DEFAULT_MAX_QUEUED, OVERFLOW

__all__ = ["OVERFLOW", "ConstraintBus", "Subscription"]


@dataclass(eq=False)
class Subscription:
    scope: Scope
    queue: asyncio.Queue[ConstraintChange | object] = field(default_factory=asyncio.Queue)


class ConstraintBus:
    """Args:
    max_queued: changes a subscriber may fall behind before it is dropped.
    """

    def __init__(self, max_queued: int = DEFAULT_MAX_QUEUED) -> None:
        self.max_queued = max_queued
        self.overflows = 0
        self._subscribers: set[Subscription] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self, scope: Scope) -> Subscription:
        subscription = Subscription(scope, asyncio.Queue(maxsize=self.max_queued + 1))
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def publish(self, changes: Sequence[ConstraintChange]) -> None:
        """Hand committed changes to every subscriber whose scope covers them (event loop only)."""
        for change in changes:
            c = change.constraint
            for subscription in list(self._subscribers):
                if not subscription.scope.allows(c.site, c.area):
                    continue
                if subscription.queue.qsize() >= self.max_queued:
                    subscription.queue.put_nowait(OVERFLOW)
                    self.overflows += 1
                    self._subscribers.discard(subscription)
                    continue
                subscription.queue.put_nowait(change)
