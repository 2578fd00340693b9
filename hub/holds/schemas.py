"""Hold shapes: the request (holds and releases together, all or nothing) and the hold."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class HoldItem(_Body):
    lot: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    site: str | None = Field(default=None, min_length=1, max_length=200)
    """Null: the lot is held at every site (only an unscoped user may place that)."""
    area: str | None = Field(default=None, min_length=1, max_length=200)
    line: str | None = Field(default=None, min_length=1, max_length=200)
    """Null: held on every line of the site."""
    product: str | None = Field(default=None, min_length=1, max_length=200)
    expected_end: AwareDatetime | None = Field(default=None, strict=False)


class ReleaseItem(_Body):
    lot: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    site: str | None = Field(default=None, min_length=1, max_length=200)
    """Release only the holds of this site (null: every open hold of the lot you may see)."""
    line: str | None = Field(default=None, min_length=1, max_length=200)


class HoldsRequest(_Body):
    """Place and release holds in one commit; one refused item refuses the whole request."""

    hold: list[HoldItem] = Field(default_factory=list, max_length=1000)
    release: list[ReleaseItem] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.hold and not self.release:
            raise ValueError("give at least one item in 'hold' or 'release'")
        return self


class Hold(BaseModel):
    id: int
    lot: str
    site: str | None
    area: str | None
    line: str | None
    product: str | None
    reason: str
    placed_by: str
    placed_at: datetime
    expected_end: datetime | None
    released_at: datetime | None
    released_by: str | None
    release_reason: str | None

    @property
    def open(self) -> bool:
        return self.released_at is None


class HoldsReply(BaseModel):
    placed: list[Hold]
    """New holds (a lot already held at the same site and line is not held twice)."""
    unchanged: list[Hold]
    """Holds that were already open as asked."""
    released: list[Hold]
    commands: int
    """Hold-list commands queued for agents (delivered on their next ingest reply)."""


class HoldFilters(BaseModel):
    lot: str | None = None
    site: str | None = None
    line: str | None = None
    include_released: bool = False
