"""Task shapes: a task as the inbox shows it, and the bodies of complete and skip."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hub.governance.assignees import labels
from hub.governance.records import TaskRow


class Task(BaseModel):
    id: int
    run_id: int
    step_id: str
    title: str
    instructions: str | None
    required: bool
    """A required task cannot be skipped."""
    status: str
    """``open``, ``done``, ``skipped`` or ``cancelled``."""
    site: str | None
    area: str | None
    line: str | None
    assignees: list[str]
    """Who may act now (``role:maintenance``, ``user:maria``): the assignee and every
    escalation target reached so far (delegates act for them)."""
    escalation_level: int
    escalation_chain: list[str]
    """The whole chain, level 0 first."""
    created_at: datetime
    due_at: datetime | None
    reminded_at: datetime | None
    escalated_at: datetime | None
    overdue: bool
    """The last deadline passed with nobody left to escalate to."""
    completed_at: datetime | None
    completed_by: str | None
    note: str | None
    can_act: bool
    """The caller may complete (or, if not required, skip) this task."""
    via: str | None
    """How the caller may act: ``assignee``, ``delegation`` or ``escalation``."""
    reports: list[str] = []
    """What completing it may report besides the note (``expected_end``: when the equipment is
    expected back), from the playbook step's ``reports``."""

    @classmethod
    def of(cls, row: TaskRow, via: str | None, reports: Sequence[str] = ()) -> Task:
        return cls(
            id=row.id,
            run_id=row.run_id,
            step_id=row.step_id,
            title=row.title,
            instructions=row.instructions,
            required=row.required,
            status=row.status,
            site=row.site,
            area=row.area,
            line=row.line,
            assignees=labels(row.assignees, row.escalation_level),
            escalation_level=row.escalation_level,
            escalation_chain=labels(row.assignees, len(row.assignees)),
            created_at=row.created_at,
            due_at=row.due_at,
            reminded_at=row.reminded_at,
            escalated_at=row.escalated_at,
            overdue=row.overdue,
            completed_at=row.completed_at,
            completed_by=row.completed_by,
            note=row.note,
            can_act=row.status == "open" and via is not None,
            via=via,
            reports=list(reports),
        )


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CompleteRequest(_Body):
    note: str | None = Field(default=None, max_length=4000)
    expected_end: AwareDatetime | None = Field(default=None, strict=False)
    """When the equipment is expected back (with its UTC offset), for a task whose playbook
    step says ``reports: [expected_end]``: it becomes the expected end of the run's open
    reduced/unavailable constraints. Must be in the future, at most a year ahead."""


class SkipRequest(_Body):
    reason: str = Field(min_length=1, max_length=2000)
