"""Alarm shapes: the occurrence as the API shows it, and the records derived from events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from protocols.wire import Category, Scalar, Severity


class AlarmState(StrEnum):
    ACTIVE = "active"
    RETURNED = "returned"
    """The condition cleared at the edge (return to normal)."""


class Alarm(BaseModel):
    """One alarm occurrence: raised once, returned at most once."""

    id: str
    agent_id: str
    tag: str | None
    rule: str | None
    severity: Severity | None
    category: Category | None
    state: AlarmState
    value: Scalar
    """The value at the moment the alarm was raised."""
    raised_at: datetime
    cleared_at: datetime | None
    cleared_value: Scalar


class AlarmFilters(BaseModel):
    state: AlarmState | None = None
    severity: Severity | None = None
    tag: str | None = None
    agent_id: str | None = None
