"""Webhook shapes: subscriptions (the secret is shown once), deliveries and their attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

DeliveryStatus = Literal["pending", "delivered", "failed"]

SIGNATURE_HEADER = "X-Floorgate-Signature"
"""``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the subscription's secret>``."""
TIMESTAMP_HEADER = "X-Floorgate-Timestamp"
"""Unix seconds when the attempt was signed; receivers should refuse old ones (replays)."""
EVENT_HEADER = "X-Floorgate-Event"
DELIVERY_HEADER = "X-Floorgate-Delivery"
"""The delivery id: the same on every retry of one event to one subscriber (de-duplicate on it)."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SubscriptionRequest(_Body):
    name: str = Field(min_length=1, max_length=200)
    url: AnyHttpUrl
    events: list[str] = Field(default_factory=lambda: ["*"], min_length=1, max_length=100)
    """Event name patterns (``fnmatch``): ``constraint.*``, ``plan.uploaded``, ``*``."""
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    """Omit to have the hub generate one (returned once, in this reply)."""
    sites: list[str] = Field(default_factory=list, max_length=100)
    """Only events of these sites (empty: all; events with no site go to every subscriber)."""
    areas: list[str] = Field(default_factory=list, max_length=100)


class SubscriptionUpdate(_Body):
    active: bool | None = None
    events: list[str] | None = Field(default=None, min_length=1, max_length=100)
    url: AnyHttpUrl | None = None


class Subscription(BaseModel):
    id: int
    name: str
    url: str
    events: list[str]
    sites: list[str]
    areas: list[str]
    active: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


class CreatedSubscription(Subscription):
    secret: str
    """Keep it: the hub never shows it again."""


class Attempt(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class Delivery(BaseModel):
    id: int
    subscription_id: int
    event_id: str
    event: str
    site: str | None
    area: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    """When the next try is due (null once delivered or failed)."""
    created_at: datetime
    finished_at: datetime | None
    last_status: int | None
    last_error: str | None
    attempt_log: list[Attempt] = Field(default_factory=list)


class DeliveryFilters(BaseModel):
    subscription_id: int | None = None
    status: DeliveryStatus | None = None
    event: str | None = None
