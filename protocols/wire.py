"""The versioned agent<->hub schema: events up, commands down. Both sides import this module.

All models are strict and forbid unknown fields: a value of the wrong JSON type (``"seq": "7"``)
is refused, never coerced. Validate wire input with ``model_validate_json`` so that enums and
ISO-8601 timestamps are read from their JSON forms.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

WIRE_VERSION = 1

AGENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_AGENT_ID = re.compile(AGENT_ID_PATTERN)

AgentId = Annotated[str, Field(pattern=AGENT_ID_PATTERN)]
Scalar = bool | int | float | str | None
"""A tag value as it travels: JSON scalars only."""


class EventType(StrEnum):
    ALARM_RAISED = "alarm.raised"
    ALARM_CLEARED = "alarm.cleared"
    ALARM_ACKED = "alarm.acked"
    ALARM_SHELVED = "alarm.shelved"
    """Shelved at the agent's panel (context ``until``, ``reason``, ``by``, ``seen``)."""
    ALARM_UNSHELVED = "alarm.unshelved"
    """Unshelved at the agent's panel, or its shelve ran out there (context ``expired``)."""
    ALARM_FLAG = "alarm.flag"
    """Suppressed / out of service set or cleared at the panel (context ``flag``, ``on``)."""
    VALUE = "value"
    STATE = "state"
    HEALTH = "health"
    COMM_LOST = "comm.lost"
    COMM_RESTORED = "comm.restored"
    DRIFT = "drift"
    COMMAND_RESULT = "command.result"


class Quality(StrEnum):
    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Category(StrEnum):
    EQUIPMENT = "equipment"
    QUALITY = "quality"
    SCHEDULE = "schedule"
    SUPPLY = "supply"
    SAFETY = "safety"


class _Strict(BaseModel):
    # NaN and infinities are not JSON and mean nothing to a planner: refuse them at the edge.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


def event_id_for(agent_id: str, seq: int) -> str:
    """The globally unique id of an agent's event: ``agent_id:seq``."""
    return f"{agent_id}:{seq}"


class Event(_Strict):
    """One thing that happened at the edge, as the agent saw it.

    ``source_time`` is when the device stamped the value (or when the agent read it, if the device
    has no clock); ``agent_time`` is when the agent created the event. Replayed events keep both.
    Alarm events carry the occurrence id in ``context["occurrence"]``.
    """

    event_id: str = Field(min_length=3, max_length=96)
    agent_id: AgentId
    seq: int = Field(ge=1, le=2**63 - 1)  # a BIGINT at the hub
    type: EventType
    tag: str | None = Field(default=None, max_length=200)
    value: Scalar = None
    quality: Quality = Quality.GOOD
    source_time: AwareDatetime
    agent_time: AwareDatetime
    rule: str | None = Field(default=None, max_length=200)
    severity: Severity | None = None
    category: Category | None = None
    context: dict[str, Scalar] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _id_matches_agent_and_seq(self) -> Self:
        if self.event_id != event_id_for(self.agent_id, self.seq):
            raise ValueError(f"event_id must be '{self.agent_id}:{self.seq}' (agent_id:seq)")
        return self


class IngestRequest(_Strict):
    """What an agent posts to ``POST /api/v1/ingest``."""

    agent_id: AgentId
    events: list[Event] = Field(max_length=10_000)


class CommandKind(StrEnum):
    ACK = "ack"
    SHELVE = "shelve"
    PLAN = "plan"
    HOLDS = "holds"
    WRITE = "write"
    FLAG = "flag"
    """Set or clear an alarm's ``suppressed`` or ``out_of_service`` flag."""


class Command(_Strict):
    """An instruction from the hub to one agent, delivered on the ingest reply."""

    command_id: str
    kind: CommandKind
    payload: dict[str, Any] = Field(default_factory=dict)
    issued_at: AwareDatetime


class Rejected(_Strict):
    index: int
    event_id: str | None
    reason: str


class IngestReply(_Strict):
    """The hub's answer, sent only after the accepted events are committed."""

    accepted: list[str]
    duplicates: list[str]
    rejected: list[Rejected]
    commands: list[Command] = Field(default_factory=list)


def is_agent_id(value: str) -> bool:
    return bool(_AGENT_ID.match(value))


def utc_now() -> datetime:
    return datetime.now(UTC)
