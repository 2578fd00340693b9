"""Ingest shapes beyond the wire schema: an event as stored and listed by ``GET /events``."""

from __future__ import annotations

from datetime import datetime

from protocols.wire import Event


class StoredEvent(Event):
    """An event as the hub committed it, with the time it arrived."""

    received_at: datetime
