"""In-process fan-out of alarm changes to live subscribers (one per open SSE stream).

Each subscriber has a bounded queue. Overflow policy: a subscriber that falls ``max_queued``
changes behind is dropped (its stream ends with an ``overflow`` event, so the client reconnects
and re-reads the list) rather than blocking the publisher, which is the ingest path. Drops are
counted in ``overflows``. Publishing never blocks and never waits for a subscriber.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from hub.alarms.schemas import Alarm
from hub.auth.scope import Scope

DEFAULT_MAX_QUEUED = 1000


@dataclass(frozen=True)
class AlarmChange:
    id: int
    """Increases by one per change within this hub process (the SSE ``id``)."""
    transition: str
    alarm: Alarm


OVERFLOW = object()
"""Queued in place of the changes a subscriber missed; it ends the stream."""


@dataclass(eq=False)
class Subscription:
    scope: Scope
    queue: asyncio.Queue[AlarmChange | object] = field(default_factory=asyncio.Queue)
    dropped: bool = False


class AlarmBus:
    """Args:
    max_queued: changes a subscriber may fall behind before it is dropped.
    """

    def __init__(self, max_queued: int = DEFAULT_MAX_QUEUED) -> None:
        self.max_queued = max_queued
        self.overflows = 0
        self._subscribers: set[Subscription] = set()
        self._ids = itertools.count(1)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self, scope: Scope) -> Subscription:
        # One slot more than max_queued, kept for the OVERFLOW marker.
        subscription = Subscription(scope, asyncio.Queue(maxsize=self.max_queued + 1))
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def publish(self, changes: Sequence[tuple[str, Alarm]]) -> None:
        """Hand committed changes to every subscriber whose scope covers them (event loop only)."""
        for transition, alarm in changes:
            change = AlarmChange(next(self._ids), transition, alarm)
            for subscription in list(self._subscribers):
                if not subscription.scope.allows(alarm.site, alarm.area):
                    continue
                if subscription.queue.qsize() >= self.max_queued:
                    subscription.queue.put_nowait(OVERFLOW)
                    subscription.dropped = True
                    self.overflows += 1
                    self._subscribers.discard(subscription)
                    continue
                subscription.queue.put_nowait(change)
