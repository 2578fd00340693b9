"""SQL for current values: one upsert per batch, newest source time wins."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.location import location_of
from hub.storage import Connection
from protocols.wire import Event


def upsert(conn: Connection, events: Sequence[Event], received_at: datetime) -> None:
    """Store each event's value unless a newer one (by source time, then seq) is stored.

    ``events`` must hold at most one event per (agent_id, tag).
    """
    if not events:
        return
    locations = [location_of(e) for e in events]
    conn.execute(
        "INSERT INTO current_values (agent_id, tag, value, quality, source_time, received_at,"
        " seq, site, area, line)"
        " SELECT unnest($1::VARCHAR[]), unnest($2::VARCHAR[]), unnest($3::VARCHAR[])::JSON,"
        " unnest($4::VARCHAR[]), unnest($5::TIMESTAMPTZ[]), $6::TIMESTAMPTZ,"
        " unnest($7::BIGINT[]), unnest($8::VARCHAR[]), unnest($9::VARCHAR[]),"
        " unnest($10::VARCHAR[])"
        " ON CONFLICT (agent_id, tag) DO UPDATE SET value = excluded.value,"
        " quality = excluded.quality, source_time = excluded.source_time,"
        " received_at = excluded.received_at, seq = excluded.seq, site = excluded.site,"
        " area = excluded.area, line = excluded.line"
        " WHERE excluded.source_time > current_values.source_time"
        " OR (excluded.source_time = current_values.source_time"
        " AND excluded.seq > current_values.seq)",
        [
            [e.agent_id for e in events],
            [e.tag for e in events],
            [json.dumps(e.value) for e in events],
            [e.quality.value for e in events],
            [e.source_time for e in events],
            received_at,
            [e.seq for e in events],
            [where.site for where in locations],
            [where.area for where in locations],
            [where.line for where in locations],
        ],
    )


Row = tuple[Any, ...]


def list_values(
    conn: Connection,
    *,
    where_sql: list[str],
    params: dict[str, Any],
    after: tuple[str, str] | None,
    limit: int,
) -> list[Row]:
    where = list(where_sql)
    params = {**params, "limit": limit}
    if after is not None:
        where.append("(agent_id > $after_agent OR (agent_id = $after_agent AND tag > $after_tag))")
        params["after_agent"], params["after_tag"] = after
    return conn.execute(
        "SELECT agent_id, tag, value, quality, source_time, received_at, seq, site, area, line"
        f" FROM current_values WHERE {' AND '.join(where) or 'TRUE'}"
        " ORDER BY agent_id, tag LIMIT $limit",
        params,
    ).fetchall()
