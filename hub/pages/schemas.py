"""Shapes of the page-support API (``api.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.audit.schemas import AuditRecord
from hub.auth.schemas import Role
from hub.plans.schemas import PlanEntry


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Me(BaseModel):
    """The signed-in user, and what the policy lets their role call (to show only usable pages
    and buttons; the hub still checks every call)."""

    username: str
    role: Role
    sites: list[str]
    areas: list[str]
    has_pin: bool
    operations: list[str]
    """Operation ids (hub/auth/policy.py) this user's role may call."""


class PinRequest(_Body):
    password: str = Field(min_length=1, max_length=1024)
    """The user's password, re-entered."""
    pin: str = Field(min_length=1, max_length=64)
    """6 to 12 digits."""


class Identity(_Body):
    """A person identifying at a shared panel."""

    person: str = Field(min_length=1, max_length=200)
    """The person's user name."""
    secret: str = Field(min_length=1, max_length=1024)
    """Their PIN or password."""


class AckOnBehalfRequest(Identity):
    note: str | None = Field(default=None, max_length=2000)
    """Required for high and critical alarms."""


class ShelveOnBehalfRequest(Identity):
    minutes: int = Field(gt=0)
    reason: str = Field(min_length=1, max_length=2000)


SourceState = Literal["up", "down", "connecting", "unknown"]


class SourceStatus(BaseModel):
    """One data source (a PLC connection) of an agent, as the agent last reported it."""

    agent_id: str
    source: str
    state: SourceState
    since: datetime
    """Source time of the event that reported the state."""
    reason: str | None
    via: Literal["comm", "health"]
    """A ``comm.lost``/``comm.restored`` event or the agent's periodic ``health`` event."""


class AgentStatus(BaseModel):
    agent_id: str
    site: str | None
    area: str | None
    line: str | None
    last_seen: datetime | None
    """When the hub last received anything from the agent (health or a value)."""
    last_seen_age_seconds: float | None
    silent: bool
    """Nothing received for longer than ``silent_after_seconds``."""
    hub_reachable: bool | None = None


class HmiStatus(BaseModel):
    """What the alarm panel needs besides the alarms: limits and communication states."""

    max_shelve_minutes: int
    note_required: list[str]
    """Severities whose acknowledgement needs a note."""
    silent_after_seconds: float
    agents: list[AgentStatus]
    sources: list[SourceStatus]


Stage = Literal["exception", "response", "task", "decision", "action", "outcome", "other"]


class ChainEntry(BaseModel):
    stage: Stage
    """Where in plan-to-outcome the record belongs: the exception (alarm raised, run started),
    the response at the panel (acknowledge, shelve, identifications), tasks, decisions
    (approvals and their signatures), actions, the outcome (return to normal, resolution)."""
    record: AuditRecord


class OccurrenceChain(BaseModel):
    """Everything the audit holds about one alarm occurrence, in chain order."""

    alarm_id: int
    run_ids: list[int]
    """Playbook runs the occurrence started (``GET /api/v1/runs/{id}`` has their detail)."""
    entries: list[ChainEntry]
    truncated: bool
    """More records exist than were returned."""


class PlannerLine(BaseModel):
    """Plan against actual for one line over its current shift, with the chart as SVG markup.

    The shift is the plan entry in force now together with the entries next to it that carry
    the same ``shift`` name (gaps under an hour between them are breaks, not another shift).
    """

    site: str
    area: str | None
    line: str
    shift: str | None
    """The entries' shift name, if the plan gives one."""
    start: datetime
    end: datetime
    entries: list[PlanEntry]
    """The shift's plan entries (``GET /api/v1/plans`` shape), by start time."""
    counter_tag: str | None
    """The line's good-count counter (``planner.lines`` in the hub config); null: not
    configured, and the actual figures below are null too."""
    planned_rate_per_hour: float
    """The rate of the entry in force now (0 in a planned stop or a break)."""
    planned_total: float
    planned_by_now: float
    produced: float | None
    """Counted since the shift started (counter resets are bridged)."""
    rate_per_hour: float | None
    """The actual rate over the last 15 minutes (null without two readings in them)."""
    projected_total: float | None
    """``produced`` plus the actual rate over the planned running time left."""
    shortfall: float | None
    """How far ``projected_total`` falls short of ``planned_total`` (never below 0)."""
    svg: str


class PlannerBoard(BaseModel):
    """Plan against actual of every line in the caller's scope with a plan in force now."""

    as_of: datetime
    lines: list[PlannerLine]
    plans_version: int
    """The newest plan upload the board reflects (it changes with every upload)."""
