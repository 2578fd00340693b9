"""SQL for events. A batch is one ``INSERT ... SELECT unnest(...)`` with each column bound as a
list: DuckDB's ``executemany`` manages about 1,600 rows/s, this about 170,000."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from hub.auth.scope import Scope
from hub.ingest.schemas import EventFilters, StoredEvent
from hub.location import location_of
from hub.storage import Connection
from protocols.wire import Category, Event, EventType, Quality, Severity


def insert_new_events(conn: Connection, events: Sequence[Event], received_at: datetime) -> set[str]:
    """Insert the events whose event_id is not stored yet; return the ids actually inserted.

    ``events`` must not repeat an event_id (the caller removes in-batch duplicates).
    """
    if not events:
        return set()
    locations = [location_of(e) for e in events]
    rows = conn.execute(
        "INSERT INTO events (event_id, agent_id, seq, type, tag, value, quality, source_time,"
        " agent_time, received_at, rule, severity, category, context, site, area, line)"
        " SELECT unnest($1::VARCHAR[]), unnest($2::VARCHAR[]), unnest($3::BIGINT[]),"
        " unnest($4::VARCHAR[]), unnest($5::VARCHAR[]), unnest($6::VARCHAR[])::JSON,"
        " unnest($7::VARCHAR[]), unnest($8::TIMESTAMPTZ[]), unnest($9::TIMESTAMPTZ[]),"
        " $10::TIMESTAMPTZ, unnest($11::VARCHAR[]), unnest($12::VARCHAR[]),"
        " unnest($13::VARCHAR[]), unnest($14::VARCHAR[])::JSON, unnest($15::VARCHAR[]),"
        " unnest($16::VARCHAR[]), unnest($17::VARCHAR[])"
        " ON CONFLICT DO NOTHING RETURNING event_id",
        [
            [e.event_id for e in events],
            [e.agent_id for e in events],
            [e.seq for e in events],
            [e.type.value for e in events],
            [e.tag for e in events],
            [json.dumps(e.value) for e in events],
            [e.quality.value for e in events],
            [e.source_time for e in events],
            [e.agent_time for e in events],
            received_at,
            [e.rule for e in events],
            [e.severity.value if e.severity else None for e in events],
            [e.category.value if e.category else None for e in events],
            [json.dumps(e.context) for e in events],
            [where.site for where in locations],
            [where.area for where in locations],
            [where.line for where in locations],
        ],
    ).fetchall()
    return {str(row[0]) for row in rows}


def list_events(
    conn: Connection,
    *,
    filters: EventFilters,
    scope: Scope,
    after: tuple[str, int] | None,
    limit: int,
) -> list[StoredEvent]:
    """Events in (agent_id, seq) order within ``scope``, starting after the key ``after``."""
    scope_sql, params = scope.sql()
    where = [scope_sql]
    for column in ("agent_id", "type", "tag"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"{column} = ${column}")
            params[column] = value
    if filters.since is not None:
        where.append("source_time >= $since")
        params["since"] = filters.since
    if filters.until is not None:
        where.append("source_time < $until")
        params["until"] = filters.until
    if after is not None:
        where.append("(agent_id > $after_agent OR (agent_id = $after_agent AND seq > $after_seq))")
        params["after_agent"], params["after_seq"] = after
    params["limit"] = limit
    sql = (
        "SELECT event_id, agent_id, seq, type, tag, value, quality, source_time, agent_time,"
        " received_at, rule, severity, category, context FROM events"
        f" WHERE {' AND '.join(where)} ORDER BY agent_id, seq LIMIT $limit"
    )
    rows = conn.execute(sql, params).fetchall()
    # Stored rows were validated on the way in: model_construct skips a second validation.
    return [
        StoredEvent.model_construct(
            event_id=row[0],
            agent_id=row[1],
            seq=row[2],
            type=EventType(row[3]),
            tag=row[4],
            value=json.loads(row[5]) if row[5] is not None else None,
            quality=Quality(row[6]),
            source_time=row[7],
            agent_time=row[8],
            received_at=row[9],
            rule=row[10],
            severity=Severity(row[11]) if row[11] is not None else None,
            category=Category(row[12]) if row[12] is not None else None,
            context=json.loads(row[13]),
        )
        for row in rows
    ]
