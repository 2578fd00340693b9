"""Plan shapes: an uploaded entry (JSON body or CSV row), the stored entry, the upload reply."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

MAX_ENTRIES = 10_000
"""Entries per upload (JSON or CSV rows)."""


class PlanEntryIn(BaseModel):
    """One planned run of a product on a line, from ``start`` (inclusive) to ``end``."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    site: str = Field(min_length=1, max_length=200)
    area: str | None = Field(default=None, min_length=1, max_length=200)
    """Left out: taken from where the line's agents report from (if they agree)."""
    line: str = Field(min_length=1, max_length=200)
    product: str = Field(min_length=1, max_length=200)
    lot: str | None = Field(default=None, min_length=1, max_length=200)
    planned_quantity: float | None = Field(default=None, ge=0)
    planned_rate_per_hour: float | None = Field(default=None, ge=0)
    """Good count per hour; 0 is a planned stop. Left out: planned_quantity / duration."""
    start: AwareDatetime
    end: AwareDatetime
    shift: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.planned_rate_per_hour is None and self.planned_quantity is None:
            raise ValueError("give planned_rate_per_hour or planned_quantity")
        return self

    @property
    def rate_per_hour(self) -> float:
        if self.planned_rate_per_hour is not None:
            return self.planned_rate_per_hour
        assert self.planned_quantity is not None
        return self.planned_quantity / ((self.end - self.start).total_seconds() / 3600)


class PlanUpload(BaseModel):
    """The JSON body of ``POST /plans``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    entries: list[PlanEntryIn] = Field(min_length=1, max_length=MAX_ENTRIES)
    source: str | None = Field(default=None, min_length=1, max_length=200)
    """The sending system, for the audit (e.g. ``aps``, ``erp``)."""


class PlanEntry(BaseModel):
    id: int
    upload_id: int
    site: str
    area: str | None
    line: str
    product: str
    lot: str | None
    planned_quantity: float | None
    planned_rate_per_hour: float
    start: datetime
    end: datetime
    shift: str | None
    replaced_by: int | None
    """The upload that replaced this entry; null while it is in force."""


class PlanUploadReply(BaseModel):
    upload_id: int
    entries: int
    replaced: int
    """Entries in force before that overlapped the upload's window on one of its lines."""
    lines: list[str]
    """``site/line`` of every line the upload covers."""
    commands: int
    """Plan commands queued for agents (delivered on their next ingest reply)."""


class PlanFilters(BaseModel):
    site: str | None = None
    area: str | None = None
    line: str | None = None
    since: datetime | None = None
    """Entries ending after this."""
    until: datetime | None = None
    """Entries starting before this."""
    include_replaced: bool = False
