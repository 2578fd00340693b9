"""The agent's periodic health event: what an operator needs to trust a gateway from afar."""

from __future__ import annotations

from datetime import datetime

from edge_agent.buffer import BufferStats, Draft
from protocols.wire import EventType, Scalar


def health_draft(
    now: datetime,
    started: datetime,
    stats: BufferStats,
    sources: dict[str, bool | None],
    hub_reachable: bool | None,
    sent: int,
) -> Draft:
    """A ``health`` event: uptime, buffer depth and age of the oldest unsent event, drops,
    dead letters, events sent since start, and each source's state (up, down, connecting)."""
    oldest_age = (
        None
        if stats.oldest_source_time is None
        else round((now - datetime.fromisoformat(stats.oldest_source_time)).total_seconds(), 3)
    )
    context: dict[str, Scalar] = {
        "uptime_s": round((now - started).total_seconds(), 3),
        "buffer_depth": stats.depth,
        "oldest_unsent_age_s": oldest_age,
        "dropped_routine": stats.dropped_routine,
        "dropped_urgent": stats.dropped_urgent,
        "dead_letters": stats.dead_letters,
        "hub_reachable": hub_reachable,
        "sent": sent,
    }
    for name, up in sources.items():
        context[f"source.{name}"] = "connecting" if up is None else ("up" if up else "down")
    return Draft(EventType.HEALTH, now, context=context)
