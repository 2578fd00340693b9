"""Shapes of recommendations, inventory positions and supplier commitments."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from protocols.wire import Category, Scalar, Severity


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class RecommendationScope(_Body):
    """Where the recommendation applies; scoped users may submit only within their scope."""

    site: str | None = Field(default=None, min_length=1, max_length=200)
    area: str | None = Field(default=None, min_length=1, max_length=200)
    line: str | None = Field(default=None, min_length=1, max_length=200)
    equipment: str | None = Field(default=None, min_length=1, max_length=200)
    lot: str | None = Field(default=None, min_length=1, max_length=200)


class RecommendationRequest(_Body):
    source_system: str = Field(min_length=1, max_length=200)
    """The system that proposes (``aps``, ``erp``, ``copilot``...)."""
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    """The sender's id: a second submission with the same (source_system, external_id) returns
    the first one unchanged (safe retries)."""
    proposed_action: str = Field(min_length=1, max_length=200)
    """What to do, e.g. ``reschedule``, ``expedite``, ``hold_lot``; playbooks match on it."""
    category: Category | None = Field(default=None, strict=False)
    severity: Severity | None = Field(default=None, strict=False)
    scope: RecommendationScope = Field(default_factory=RecommendationScope)
    rationale: str = Field(min_length=1, max_length=4000)
    parameters: dict[str, Scalar] = Field(default_factory=dict, max_length=100)
    expires_at: AwareDatetime = Field(strict=False)
    """After this, the recommendation should no longer be acted on; must be in the future."""


class Recommendation(BaseModel):
    id: int
    source_system: str
    external_id: str | None
    proposed_action: str
    category: str | None
    severity: str | None
    scope: RecommendationScope
    rationale: str
    parameters: dict[str, Scalar]
    expires_at: datetime
    submitted_by: str
    received_at: datetime
    duplicate: bool = False
    """True when this reply is an earlier submission with the same external id."""


class FeedEvent(BaseModel):
    """An event playbooks may match (the governance half keeps its own cursor on ``id``)."""

    id: int
    type: str
    """``recommendation.received``."""
    object_id: str
    site: str | None
    area: str | None
    line: str | None
    payload: dict[str, Any]
    created_at: datetime


class InventoryPosition(_Body):
    site: str = Field(min_length=1, max_length=200)
    area: str | None = Field(default=None, min_length=1, max_length=200)
    item: str = Field(min_length=1, max_length=200)
    location: str = Field(default="", max_length=200)
    """A bin, silo or warehouse; empty for the site total."""
    quantity: float
    unit: str = Field(min_length=1, max_length=50)
    as_of: AwareDatetime = Field(strict=False)
    """When the sender's figure was true (its age at decision time is measured from this)."""


class InventoryRequest(_Body):
    source_system: str = Field(min_length=1, max_length=200)
    positions: list[InventoryPosition] = Field(min_length=1, max_length=10_000)


SupplyStatus = Literal["confirmed", "at_risk", "late", "delivered", "cancelled"]


class SupplyCommitment(_Body):
    reference: str = Field(min_length=1, max_length=200)
    """The sender's order or line reference (unique per source system)."""
    supplier: str = Field(min_length=1, max_length=200)
    site: str = Field(min_length=1, max_length=200)
    area: str | None = Field(default=None, min_length=1, max_length=200)
    item: str = Field(min_length=1, max_length=200)
    quantity: float = Field(ge=0)
    unit: str = Field(min_length=1, max_length=50)
    due_at: AwareDatetime = Field(strict=False)
    status: SupplyStatus = "confirmed"
    as_of: AwareDatetime = Field(strict=False)


class SupplyRequest(_Body):
    source_system: str = Field(min_length=1, max_length=200)
    commitments: list[SupplyCommitment] = Field(min_length=1, max_length=10_000)


class StoredReply(BaseModel):
    stored: int
    """Rows written (new, or newer than what the hub held)."""
    stale: int
    """Rows older (by ``as_of``) than what the hub already held: ignored."""


class InventoryView(BaseModel):
    source_system: str
    site: str
    area: str | None
    item: str
    location: str
    quantity: float
    unit: str
    as_of: datetime
    received_at: datetime
    age_seconds: float
    """Now minus ``as_of``."""


class SupplyView(BaseModel):
    source_system: str
    reference: str
    supplier: str
    site: str
    area: str | None
    item: str
    quantity: float
    unit: str
    due_at: datetime
    status: str
    as_of: datetime
    received_at: datetime
    age_seconds: float
