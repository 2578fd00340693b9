"""Alarm shapes: the occurrence as the API shows it, filters, and the bodies of transitions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.alarms.lifecycle import AlarmState, Channel, Definition, Occurrence, summary_state
from protocols.wire import Category, Scalar, Severity

__all__ = ["AlarmState", "Channel"]


class Alarm(BaseModel):
    """One alarm occurrence with its alarm's shelve/suppress/out-of-service flags."""

    id: int
    """Hub-assigned; use it in /alarms/{id}/... URLs."""
    agent_id: str
    occurrence: str
    """The agent's occurrence id (unique per agent)."""
    rule: str
    tag: str | None
    severity: Severity | None
    category: Category | None
    site: str | None
    area: str | None
    line: str | None
    state: AlarmState
    active: bool
    acknowledged: bool
    value: Scalar
    """The value at the moment the alarm was raised."""
    raised_at: datetime
    cleared_at: datetime | None
    cleared_value: Scalar
    acked_at: datetime | None
    acked_by: str | None
    ack_note: str | None
    ack_channel: str | None
    shelved_until: datetime | None
    shelve_reason: str | None
    suppressed: bool
    out_of_service: bool

    @classmethod
    def of(cls, occurrence: Occurrence, definition: Definition, now: datetime) -> Alarm:
        assert occurrence.id is not None
        shelved = definition.shelved(now)
        return cls(
            id=occurrence.id,
            agent_id=occurrence.agent_id,
            occurrence=occurrence.occurrence,
            rule=occurrence.rule,
            tag=occurrence.tag,
            severity=Severity(occurrence.severity) if occurrence.severity else None,
            category=Category(occurrence.category) if occurrence.category else None,
            site=occurrence.site,
            area=occurrence.area,
            line=occurrence.line,
            state=summary_state(occurrence, definition, now),
            active=occurrence.active,
            acknowledged=occurrence.acknowledged,
            value=occurrence.value,
            raised_at=occurrence.raised_at,
            cleared_at=occurrence.cleared_at,
            cleared_value=occurrence.cleared_value,
            acked_at=occurrence.acked_at,
            acked_by=occurrence.acked_by,
            ack_note=occurrence.ack_note,
            ack_channel=occurrence.ack_channel,
            shelved_until=definition.shelved_until if shelved else None,
            shelve_reason=definition.shelve_reason if shelved else None,
            suppressed=definition.suppressed,
            out_of_service=definition.out_of_service,
        )


class AlarmFilters(BaseModel):
    state: list[AlarmState] | None = None
    severity: Severity | None = None
    tag: str | None = None
    agent_id: str | None = None
    site: str | None = None
    area: str | None = None
    line: str | None = None


class HistoryEntry(BaseModel):
    at: datetime
    action: str
    actor: str
    channel: str
    reason: str | None
    note: str | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


UserChannel = Literal["hmi", "api"]


class AckRequest(_Body):
    note: str | None = Field(default=None, max_length=2000)
    """Required for high and critical alarms."""
    channel: UserChannel = "api"


class ShelveRequest(_Body):
    minutes: int = Field(gt=0)
    """At most the hub's ``alarms.max_shelve_minutes``."""
    reason: str = Field(min_length=1, max_length=2000)
    channel: UserChannel = "api"


class ReasonRequest(_Body):
    reason: str = Field(min_length=1, max_length=2000)
    channel: UserChannel = "api"


class OptionalReasonRequest(_Body):
    reason: str | None = Field(default=None, max_length=2000)
    channel: UserChannel = "api"
