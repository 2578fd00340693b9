"""Delegation shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hub.auth.schemas import Role
from hub.governance.records import Delegation


class DelegationRequest(BaseModel):
    """Delegate your role to another user for a time window (e.g. while on leave)."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    """Your own role (delegating one you do not hold is refused)."""
    to_user: str = Field(min_length=1, max_length=200)
    starts_at: AwareDatetime | None = None
    """Now when left out."""
    ends_at: AwareDatetime
    reason: str | None = Field(default=None, max_length=2000)


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str | None = Field(default=None, max_length=2000)


class DelegationView(BaseModel):
    id: int
    from_user: str
    role: str
    to_user: str
    starts_at: datetime
    ends_at: datetime
    reason: str | None
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    active: bool

    @classmethod
    def of(cls, d: Delegation, now: datetime) -> DelegationView:
        return cls(**vars(d), active=d.active(now))
