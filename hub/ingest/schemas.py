"""Ingest shapes beyond the wire schema: an event as stored and listed by ``GET /events``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from protocols.wire import Event


class StoredEvent(Event):
    """An event as the hub committed it, with the time it arrived."""

    received_at: datetime


class EventFilters(BaseModel):
    agent_id: str | None = None
    type: str | None = None
    tag: str | None = None
    since: datetime | None = None
    """Inclusive, on source_time."""
    until: datetime | None = None
    """Exclusive, on source_time."""
