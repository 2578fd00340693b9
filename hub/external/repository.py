"""SQL for recommendations, feed events, inventory positions and supplier commitments."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.auth.scope import Scope
from hub.external.schemas import (
    FeedEvent,
    InventoryPosition,
    Recommendation,
    RecommendationRequest,
    RecommendationScope,
    SupplyCommitment,
)
from hub.storage import Connection

_REC_COLUMNS = (
    "id, source_system, external_id, proposed_action, category, severity, site, area, line,"
    " equipment, lot, rationale, parameters, expires_at, submitted_by, received_at"
)


def _recommendation(row: Sequence[Any]) -> Recommendation:
    return Recommendation(
        id=row[0],
        source_system=row[1],
        external_id=row[2],
        proposed_action=row[3],
        category=row[4],
        severity=row[5],
        scope=RecommendationScope(
            site=row[6], area=row[7], line=row[8], equipment=row[9], lot=row[10]
        ),
        rationale=row[11],
        parameters=json.loads(row[12]),
        expires_at=row[13],
        submitted_by=row[14],
        received_at=row[15],
    )


def find_recommendation(
    conn: Connection, source_system: str, external_id: str
) -> Recommendation | None:
    row = conn.execute(
        f"SELECT {_REC_COLUMNS} FROM recommendations WHERE source_system = ? AND external_id = ?",
        [source_system, external_id],
    ).fetchone()
    return _recommendation(row) if row else None


def insert_recommendation(
    conn: Connection, body: RecommendationRequest, by: str, now: datetime
) -> Recommendation:
    s = body.scope
    row = conn.execute(
        "INSERT INTO recommendations (source_system, external_id, proposed_action, category,"
        " severity, site, area, line, equipment, lot, rationale, parameters, expires_at,"
        " submitted_by, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        f" RETURNING {_REC_COLUMNS}",
        [
            body.source_system,
            body.external_id,
            body.proposed_action,
            body.category.value if body.category else None,
            body.severity.value if body.severity else None,
            s.site,
            s.area,
            s.line,
            s.equipment,
            s.lot,
            body.rationale,
            json.dumps(body.parameters),
            body.expires_at,
            by,
            now,
        ],
    ).fetchone()
    assert row is not None
    return _recommendation(row)


def list_recommendations(conn: Connection, scope: Scope, limit: int) -> list[Recommendation]:
    scope_sql, params = scope.sql()
    params["limit"] = limit
    rows = conn.execute(
        f"SELECT {_REC_COLUMNS} FROM recommendations WHERE {scope_sql}"
        " ORDER BY id DESC LIMIT $limit",
        params,
    ).fetchall()
    return [_recommendation(r) for r in rows]


def insert_feed_event(
    conn: Connection,
    type_: str,
    object_id: str,
    where: tuple[str | None, str | None, str | None],
    payload: dict[str, Any],
    now: datetime,
) -> int:
    row = conn.execute(
        "INSERT INTO feed_events (type, object_id, site, area, line, payload, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [type_, object_id, *where, json.dumps(payload, default=str), now],
    ).fetchone()
    assert row is not None
    return int(row[0])


def last_feed_event(conn: Connection) -> int:
    row = conn.execute("SELECT coalesce(max(id), 0) FROM feed_events").fetchone()
    return int(row[0]) if row else 0


def feed_events_after(conn: Connection, after: int, limit: int) -> list[FeedEvent]:
    rows = conn.execute(
        "SELECT id, type, object_id, site, area, line, payload, created_at FROM feed_events"
        " WHERE id > ? ORDER BY id LIMIT ?",
        [after, limit],
    ).fetchall()
    return [
        FeedEvent(
            id=r[0],
            type=r[1],
            object_id=r[2],
            site=r[3],
            area=r[4],
            line=r[5],
            payload=json.loads(r[6]),
            created_at=r[7],
        )
        for r in rows
    ]


def inventory_as_of(
    conn: Connection, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], datetime]:
    """(site, item, location) -> as_of of the positions held for ``keys``."""
    rows = conn.execute(
        "SELECT p.site, p.item, p.location, p.as_of FROM inventory_positions p"
        " JOIN (SELECT unnest($1::VARCHAR[]) AS site, unnest($2::VARCHAR[]) AS item,"
        " unnest($3::VARCHAR[]) AS location) k USING (site, item, location)",
        [[k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]],
    ).fetchall()
    return {(str(r[0]), str(r[1]), str(r[2])): r[3] for r in rows}


def upsert_inventory(
    conn: Connection, source: str, positions: Sequence[InventoryPosition], now: datetime
) -> None:
    """Insert or replace positions (keys unique within ``positions``)."""
    if not positions:
        return
    conn.execute(
        "INSERT INTO inventory_positions (source_system, site, area, item, location, quantity,"
        " unit, as_of, received_at)"
        " SELECT $1, unnest($2::VARCHAR[]), unnest($3::VARCHAR[]), unnest($4::VARCHAR[]),"
        " unnest($5::VARCHAR[]), unnest($6::DOUBLE[]), unnest($7::VARCHAR[]),"
        " unnest($8::TIMESTAMPTZ[]), $9"
        " ON CONFLICT (site, item, location) DO UPDATE SET source_system = excluded.source_system,"
        " area = excluded.area, quantity = excluded.quantity, unit = excluded.unit,"
        " as_of = excluded.as_of, received_at = excluded.received_at",
        [
            source,
            [p.site for p in positions],
            [p.area for p in positions],
            [p.item for p in positions],
            [p.location for p in positions],
            [p.quantity for p in positions],
            [p.unit for p in positions],
            [p.as_of for p in positions],
            now,
        ],
    )


def supply_as_of(conn: Connection, source: str, references: Sequence[str]) -> dict[str, datetime]:
    rows = conn.execute(
        "SELECT reference, as_of FROM supply_commitments WHERE source_system = ?"
        " AND list_contains(?::VARCHAR[], reference)",
        [source, list(references)],
    ).fetchall()
    return {str(r[0]): r[1] for r in rows}


def upsert_supply(
    conn: Connection, source: str, commitments: Sequence[SupplyCommitment], now: datetime
) -> None:
    """Insert or replace commitments (references unique within ``commitments``)."""
    if not commitments:
        return
    conn.execute(
        "INSERT INTO supply_commitments (source_system, reference, supplier, site, area, item,"
        " quantity, unit, due_at, status, as_of, received_at)"
        " SELECT $1, unnest($2::VARCHAR[]), unnest($3::VARCHAR[]), unnest($4::VARCHAR[]),"
        " unnest($5::VARCHAR[]), unnest($6::VARCHAR[]), unnest($7::DOUBLE[]),"
        " unnest($8::VARCHAR[]), unnest($9::TIMESTAMPTZ[]), unnest($10::VARCHAR[]),"
        " unnest($11::TIMESTAMPTZ[]), $12"
        " ON CONFLICT (source_system, reference) DO UPDATE SET supplier = excluded.supplier,"
        " site = excluded.site, area = excluded.area, item = excluded.item,"
        " quantity = excluded.quantity, unit = excluded.unit, due_at = excluded.due_at,"
        " status = excluded.status, as_of = excluded.as_of, received_at = excluded.received_at",
        [
            source,
            [c.reference for c in commitments],
            [c.supplier for c in commitments],
            [c.site for c in commitments],
            [c.area for c in commitments],
            [c.item for c in commitments],
            [c.quantity for c in commitments],
            [c.unit for c in commitments],
            [c.due_at for c in commitments],
            [c.status for c in commitments],
            [c.as_of for c in commitments],
            now,
        ],
    )


def inventory_rows(
    conn: Connection, where: list[str], params: dict[str, Any], limit: int
) -> list[tuple[Any, ...]]:
    params = {**params, "limit": limit}
    return conn.execute(
        "SELECT source_system, site, area, item, location, quantity, unit, as_of, received_at"
        f" FROM inventory_positions WHERE {' AND '.join(where) or 'TRUE'}"
        " ORDER BY site, item, location LIMIT $limit",
        params,
    ).fetchall()


def supply_rows(
    conn: Connection, where: list[str], params: dict[str, Any], limit: int
) -> list[tuple[Any, ...]]:
    params = {**params, "limit": limit}
    return conn.execute(
        "SELECT source_system, reference, supplier, site, area, item, quantity, unit, due_at,"
        " status, as_of, received_at FROM supply_commitments"
        f" WHERE {' AND '.join(where) or 'TRUE'} ORDER BY due_at, reference LIMIT $limit",
        params,
    ).fetchall()
