"""Webhook rules: which subscribers an event goes to, how a body is signed, when a failed
delivery is tried again. Events are queued inside the write transaction of the change they
report, so a change and its deliveries commit together (nothing reported is lost, nothing
rolled back is reported)."""

from __future__ import annotations

import fnmatch
import hmac
import json
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from hub.audit import service as audit
from hub.audit.schemas import AuditEntry
from hub.auth.scope import Scope
from hub.errors import Forbidden, NotFound
from hub.paging import Page, decode_cursor, encode_cursor
from hub.storage import Connection, Database
from hub.webhooks import repository
from hub.webhooks.schemas import (
    CreatedSubscription,
    Delivery,
    DeliveryFilters,
    Subscription,
    SubscriptionRequest,
    SubscriptionUpdate,
)


def enqueue(
    conn: Connection,
    event: str,
    data: dict[str, Any],
    now: datetime,
    *,
    site: str | None = None,
    area: str | None = None,
    event_id: str | None = None,
) -> int:
    """Queue ``event`` for every active subscriber that wants it; call inside the write
    transaction of the change it reports. Returns the number of deliveries queued.

    The body is ``{"id", "event", "occurred_at", "site", "area", "data"}``; ``data`` must be
    JSON. ``event_id`` (default: a new one) is the body's ``id`` and the deliveries'
    ``event_id``, so a caller can link what it records to the delivery log. Anyone in the hub
    may call this (governance uses it for playbook webhook actions and run outcomes).
    """
    wanted = [s.id for s in repository.active_subscriptions(conn) if _wants(s, event, site, area)]
    if not wanted:
        return 0
    event_id = event_id or uuid.uuid4().hex
    body = json.dumps(
        {
            "id": event_id,
            "event": event,
            "occurred_at": now.isoformat(),
            "site": site,
            "area": area,
            "data": data,
        },
        separators=(",", ":"),
        sort_keys=True,
        default=str,
    )
    repository.insert_deliveries(conn, wanted, event_id, event, site, area, body, now)
    return len(wanted)


def _wants(subscription: Subscription, event: str, site: str | None, area: str | None) -> bool:
    if not any(fnmatch.fnmatchcase(event, pattern) for pattern in subscription.events):
        return False
    # An event with no location concerns everyone (a plant-wide change).
    if site is not None and subscription.sites and site not in subscription.sites:
        return False
    return not (area is not None and subscription.areas and area not in subscription.areas)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: ``sha256=`` + hex HMAC-SHA256 of ``b"<timestamp>." + body``."""
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, "sha256")
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    """What a receiver does (kept here so tests and integrators use the same definition)."""
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def backoff(attempt: int, base_seconds: float, max_seconds: float) -> timedelta:
    """The wait after failed attempt number ``attempt`` (1-based): base, 2x base, 4x base, ..."""
    return timedelta(seconds=min(max_seconds, base_seconds * 2 ** (attempt - 1)))


def _within(scope: Scope, wanted: list[str], allowed: tuple[str, ...], what: str) -> list[str]:
    if not allowed:
        return wanted
    if not wanted:
        return list(allowed)
    outside = [value for value in wanted if value not in allowed]
    if outside:
        raise Forbidden(f"{what} {outside} are outside your scope")
    return wanted


async def create_subscription(
    db: Database, body: SubscriptionRequest, scope: Scope, actor: str, now: datetime
) -> CreatedSubscription:
    """Raises: Forbidden when the subscription would see sites or areas outside the caller's."""
    sites = _within(scope, body.sites, scope.sites, "sites")
    areas = _within(scope, body.areas, scope.areas, "areas")
    secret = body.secret or secrets.token_urlsafe(32)

    def work(conn: Connection) -> Subscription:
        created = repository.insert_subscription(
            conn, body.name, str(body.url), secret, body.events, sites, areas, actor, now
        )
        audit.record(
            conn,
            [
                AuditEntry(
                    actor=actor,
                    action="webhook.subscribed",
                    object_type="webhook_subscription",
                    object_id=str(created.id),
                    # The secret is never audited: the audit is readable by quality users.
                    after=created.model_dump(mode="json"),
                )
            ],
            now,
        )
        return created

    created = await db.write(work)
    return CreatedSubscription(**created.model_dump(), secret=secret)


def _visible(subscription: Subscription | None, scope: Scope, subscription_id: int) -> Subscription:
    if subscription is None or not _covers(scope, subscription):
        raise NotFound(f"no webhook subscription {subscription_id}")
    return subscription


def _covers(scope: Scope, subscription: Subscription) -> bool:
    """A scoped user sees subscriptions limited to their own sites and areas."""
    if scope.sites and not (subscription.sites and set(subscription.sites) <= set(scope.sites)):
        return False
    return not (
        scope.areas and not (subscription.areas and set(subscription.areas) <= set(scope.areas))
    )


async def update_subscription(
    db: Database,
    subscription_id: int,
    body: SubscriptionUpdate,
    scope: Scope,
    actor: str,
    now: datetime,
) -> Subscription:
    def work(conn: Connection) -> Subscription:
        before = _visible(
            repository.get_subscription(conn, subscription_id), scope, subscription_id
        )
        after = before.model_copy(
            update={
                "active": before.active if body.active is None else body.active,
                "events": before.events if body.events is None else body.events,
                "url": before.url if body.url is None else str(body.url),
                "updated_at": now,
            }
        )
        repository.update_subscription(conn, after)
        audit.record(
            conn,
            [
                AuditEntry(
                    actor=actor,
                    action="webhook.updated",
                    object_type="webhook_subscription",
                    object_id=str(subscription_id),
                    before=before.model_dump(mode="json"),
                    after=after.model_dump(mode="json"),
                )
            ],
            now,
        )
        return after

    return await db.write(work)


async def list_subscriptions(db: Database, scope: Scope) -> list[Subscription]:
    found = await db.read(repository.list_subscriptions)
    return [s for s in found if _covers(scope, s)]


async def list_deliveries(
    db: Database, filters: DeliveryFilters, scope: Scope, after: str | None, limit: int
) -> Page[Delivery]:
    key: int | None = None
    if after is not None:
        (last,) = decode_cursor(after, (int,))
        assert isinstance(last, int)
        key = last

    def query(cur: Connection) -> list[Delivery]:
        visible = [s.id for s in repository.list_subscriptions(cur) if _covers(scope, s)]
        return repository.list_deliveries(cur, filters, visible, key, limit + 1)

    rows = await db.read(query)
    items = rows[:limit]
    next_cursor = encode_cursor([items[-1].id]) if len(rows) > limit else None
    return Page[Delivery](items=items, next=next_cursor)
