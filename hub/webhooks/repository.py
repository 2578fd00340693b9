"""SQL for webhook subscriptions, the delivery queue and the attempt log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.storage import Connection
from hub.webhooks.schemas import Attempt, Delivery, DeliveryFilters, Subscription

_SUBSCRIPTION_COLUMNS = (
    "id, name, url, events, sites, areas, active, created_by, created_at, updated_at"
)
_DELIVERY_COLUMNS = (
    "id, subscription_id, event_id, event, site, area, status, attempts, next_attempt_at,"
    " created_at, finished_at, last_status, last_error"
)


def _subscription(row: Sequence[Any]) -> Subscription:
    return Subscription(
        id=row[0],
        name=row[1],
        url=row[2],
        events=list(row[3]),
        sites=list(row[4]),
        areas=list(row[5]),
        active=row[6],
        created_by=row[7],
        created_at=row[8],
        updated_at=row[9],
    )


def _delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(
        id=row[0],
        subscription_id=row[1],
        event_id=row[2],
        event=row[3],
        site=row[4],
        area=row[5],
        status=row[6],
        attempts=row[7],
        next_attempt_at=row[8] if row[6] == "pending" else None,
        created_at=row[9],
        finished_at=row[10],
        last_status=row[11],
        last_error=row[12],
    )


def insert_subscription(
    conn: Connection,
    name: str,
    url: str,
    secret: str,
    events: list[str],
    sites: list[str],
    areas: list[str],
    created_by: str,
    now: datetime,
) -> Subscription:
    row = conn.execute(
        "INSERT INTO webhook_subscriptions (name, url, secret, events, sites, areas, active,"
        " created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, true, ?, ?, ?)"
        f" RETURNING {_SUBSCRIPTION_COLUMNS}",
        [name, url, secret, events, sites, areas, created_by, now, now],
    ).fetchone()
    assert row is not None
    return _subscription(row)


def get_subscription(conn: Connection, subscription_id: int) -> Subscription | None:
    row = conn.execute(
        f"SELECT {_SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = ?",
        [subscription_id],
    ).fetchone()
    return _subscription(row) if row else None


def update_subscription(conn: Connection, subscription: Subscription) -> None:
    conn.execute(
        "UPDATE webhook_subscriptions SET url = ?, events = ?, active = ?, updated_at = ?"
        " WHERE id = ?",
        [
            subscription.url,
            subscription.events,
            subscription.active,
            subscription.updated_at,
            subscription.id,
        ],
    )


def list_subscriptions(conn: Connection) -> list[Subscription]:
    rows = conn.execute(
        f"SELECT {_SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions ORDER BY id"
    ).fetchall()
    return [_subscription(r) for r in rows]


def active_subscriptions(conn: Connection) -> list[Subscription]:
    rows = conn.execute(
        f"SELECT {_SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE active ORDER BY id"
    ).fetchall()
    return [_subscription(r) for r in rows]


def secrets(conn: Connection, subscription_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """subscription id -> (url, secret), for the sender only."""
    rows = conn.execute(
        "SELECT id, url, secret FROM webhook_subscriptions WHERE list_contains(?::BIGINT[], id)",
        [list(subscription_ids)],
    ).fetchall()
    return {int(r[0]): (str(r[1]), str(r[2])) for r in rows}


def insert_deliveries(
    conn: Connection,
    subscription_ids: Sequence[int],
    event_id: str,
    event: str,
    site: str | None,
    area: str | None,
    body: str,
    now: datetime,
) -> None:
    if not subscription_ids:
        return
    conn.execute(
        "INSERT INTO webhook_deliveries (subscription_id, event_id, event, site, area, body,"
        " status, attempts, next_attempt_at, created_at)"
        " SELECT unnest($1::BIGINT[]), $2, $3, $4, $5, $6, 'pending', 0, $7, $7",
        [list(subscription_ids), event_id, event, site, area, body, now],
    )


DueDelivery = tuple[int, int, str, str, str, int]
"""(delivery id, subscription id, event_id, event, body, attempts so far)."""


def due(conn: Connection, now: datetime, limit: int) -> list[DueDelivery]:
    rows = conn.execute(
        "SELECT id, subscription_id, event_id, event, body, attempts FROM webhook_deliveries"
        " WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
        [now, limit],
    ).fetchall()
    return [(int(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4]), int(r[5])) for r in rows]


def next_due(conn: Connection) -> datetime | None:
    row = conn.execute(
        "SELECT min(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'"
    ).fetchone()
    return row[0] if row else None


def record_attempt(
    conn: Connection,
    delivery_id: int,
    attempt: int,
    at: datetime,
    status_code: int | None,
    error: str | None,
    duration_ms: float,
    status: str,
    next_attempt_at: datetime,
) -> None:
    conn.execute(
        "INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, error,"
        " duration_ms) VALUES (?, ?, ?, ?, ?, ?)",
        [delivery_id, attempt, at, status_code, error, duration_ms],
    )
    conn.execute(
        "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,"
        " finished_at = CASE WHEN ? = 'pending' THEN NULL ELSE ?::TIMESTAMPTZ END,"
        " last_status = ?, last_error = ? WHERE id = ? AND status = 'pending'",
        [status, attempt, next_attempt_at, status, at, status_code, error, delivery_id],
    )


def list_deliveries(
    conn: Connection,
    filters: DeliveryFilters,
    subscription_ids: Sequence[int],
    after: int | None,
    limit: int,
) -> list[Delivery]:
    """Newest first, of the given subscriptions only."""
    where = ["list_contains(?::BIGINT[], subscription_id)"]
    params: list[Any] = [list(subscription_ids)]
    if filters.subscription_id is not None:
        where.append("subscription_id = ?")
        params.append(filters.subscription_id)
    if filters.status is not None:
        where.append("status = ?")
        params.append(filters.status)
    if filters.event is not None:
        where.append("event = ?")
        params.append(filters.event)
    if after is not None:
        where.append("id < ?")
        params.append(after)
    rows = conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {' AND '.join(where)}"
        " ORDER BY id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    deliveries = [_delivery(r) for r in rows]
    if deliveries:
        attempts = conn.execute(
            "SELECT delivery_id, attempt, attempted_at, status_code, error, duration_ms"
            " FROM webhook_attempts WHERE list_contains(?::BIGINT[], delivery_id)"
            " ORDER BY delivery_id, attempt",
            [[d.id for d in deliveries]],
        ).fetchall()
        by_id = {d.id: d for d in deliveries}
        for r in attempts:
            by_id[int(r[0])].attempt_log.append(
                Attempt(attempt=r[1], at=r[2], status_code=r[3], error=r[4], duration_ms=r[5])
            )
    return deliveries
