"""Playbook and run shapes: the loaded playbooks, and a run's whole chain from occurrence to
outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hub.approvals.schemas import Approval
from hub.constraints.schemas import Constraint
from hub.tasks.schemas import Task


class PlaybookInfo(BaseModel):
    id: str
    name: str
    description: str | None
    enabled: bool
    version: str
    """sha256 of the file: the policy version new runs are pinned to."""
    file: str
    steps: list[str]


class RunStep(BaseModel):
    step_id: str
    parent: str | None
    kind: str
    required: bool
    status: str
    outcome: str | None
    started_at: datetime
    finished_at: datetime | None


class RunAction(BaseModel):
    id: int
    step_id: str
    approval_id: int | None
    kind: str
    decision: str | None
    payload: dict[str, Any]
    agent_id: str | None
    command_id: str | None
    status: str
    """``sent`` (waiting for the agent), ``done``, ``failed`` (the agent's reason in
    ``detail``) or ``recorded`` (kept at the hub)."""
    detail: str | None
    created_at: datetime
    finished_at: datetime | None


class Outcome(BaseModel):
    status: str
    resolution_code: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    note: str | None
    seconds_to_acknowledge: float | None
    """Alarm raise to its acknowledgement."""
    seconds_to_notify_all: float | None
    """Alarm raise until every function of the first fan-out had its task or approval."""
    seconds_to_decide: float | None
    """Alarm raise to the first decision."""
    seconds_to_resolve: float | None


class RunSummary(BaseModel):
    id: int
    playbook_id: str
    policy_version: str
    trigger: str
    status: str
    alarm_id: int | None
    agent_id: str | None
    rule: str | None
    site: str | None
    area: str | None
    line: str | None
    recurrences: int
    occurred_at: datetime
    created_at: datetime
    resolved_at: datetime | None


class RunDetail(RunSummary):
    """occurrence -> steps -> tasks / approvals (with signatures) -> actions -> outcome."""

    tag: str | None
    severity: str | None
    category: str | None
    requested_by: str | None
    reason: str | None
    context: dict[str, Any]
    steps: list[RunStep]
    tasks: list[Task]
    approvals: list[Approval]
    actions: list[RunAction]
    constraints: list[Constraint]
    """What the run posted on the constraint board (``GET /constraints``), open or ended."""
    outcome: Outcome


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StartRunRequest(_Body):
    """Start a playbook by hand (a person's request: separation of duties keeps them from
    signing its approvals)."""

    playbook_id: str
    reason: str = Field(min_length=1, max_length=2000)
    site: str | None = None
    area: str | None = None
    line: str | None = None
    agent_id: str | None = None
    """The agent that holds the equipment (tag writes go to it)."""


class ResolveRequest(_Body):
    resolution_code: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=4000)
