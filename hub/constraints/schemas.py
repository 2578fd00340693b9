"""Constraint shapes in ISA-95 terms: equipment available / reduced / unavailable, lot held."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from hub.config import ConstraintStatus

Source = Literal["alarm", "hold", "playbook", "api"]
"""Where a constraint comes from: derived while an alarm is active or a hold is open, or posted
(by a playbook step, or a service call)."""
ChangeKind = Literal["opened", "ended"]

SEVERITY_ORDER: dict[str, int] = {"available": 0, "lot_held": 1, "reduced": 2, "unavailable": 3}
"""Worst last: the equipment summary shows the worst open status."""


class Constraint(BaseModel):
    id: int
    source: Source
    status: ConstraintStatus
    site: str | None
    area: str | None
    line: str | None
    equipment: str | None
    """The equipment (work unit) concerned: the line, or the agent when no line is known."""
    capacity_impact_percent: float | None
    """Share of the equipment's capacity lost (100: none left); null when not known."""
    lot: str | None
    lot_held: bool
    reason: str
    expected_end: datetime | None
    posted_by: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    run_id: int | None
    alarm_id: int | None
    hold_id: int | None


class ConstraintChange(BaseModel):
    id: int
    """Rises in commit order; the SSE id (reconnect with ``Last-Event-ID`` to resume)."""
    change: ChangeKind
    at: datetime
    constraint: Constraint


class EquipmentState(BaseModel):
    """One piece of equipment's availability, summed up from its open constraints."""

    site: str | None
    area: str | None
    line: str | None
    equipment: str | None
    status: ConstraintStatus
    """The worst open status: unavailable > reduced > available."""
    capacity_impact_percent: float | None
    """The largest impact among its open constraints."""
    expected_end: datetime | None
    """The latest expected end among its open constraints (null if any has none)."""
    constraint_ids: list[int]


class ConstraintBoard(BaseModel):
    as_of: datetime
    constraints: list[Constraint]
    """Open constraints in the caller's scope, newest first."""
    equipment: list[EquipmentState]
    """Equipment that is reduced or unavailable."""
    lots_held: list[str]
    last_change_id: int
    """Open the stream with ``Last-Event-ID: <this>`` to get every change after this board."""


class ConstraintFilters(BaseModel):
    site: str | None = None
    area: str | None = None
    line: str | None = None
    status: ConstraintStatus | None = None
