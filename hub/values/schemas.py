"""Live value shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from protocols.wire import Quality, Scalar


class LiveValue(BaseModel):
    agent_id: str
    tag: str
    value: Scalar
    quality: Quality
    source_time: datetime
    received_at: datetime
    age_seconds: float
    """Seconds from ``source_time`` to the moment of the read (how stale the value is)."""
    seq: int
    """The agent's seq of the event that carried the value."""
    site: str | None
    area: str | None
    line: str | None


class ValueFilters(BaseModel):
    site: str | None = None
    area: str | None = None
    line: str | None = None
    agent_id: str | None = None
    tag: str | None = None
    """A glob: ``press*.temp``, ``line?.rate``."""
