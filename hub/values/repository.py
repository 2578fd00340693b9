"""SQL for current values: one upsert per batch, newest source time wins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.storage import Connection
from hub.storage.event_json import EventsJson, events_from_json


def upsert(conn: Connection, events: EventsJson, received_at: datetime) -> None:
    """Store each event's value unless a newer one (by source time, then seq) is stored.

    ``events`` holds at most one event per (agent_id, tag), each with a tag.
    """
    conn.execute(
        "INSERT INTO current_values (agent_id, tag, value, quality, source_time, received_at,"
        " seq, site, area, line)"
        " SELECT agent_id, tag, value, quality, source_time, $received_at::TIMESTAMPTZ, seq,"
        f" site, area, line FROM {events_from_json(events)}"
        " ON CONFLICT (agent_id, tag) DO UPDATE SET value = excluded.value,"
        " quality = excluded.quality, source_time = excluded.source_time,"
        " received_at = excluded.received_at, seq = excluded.seq, site = excluded.site,"
        " area = excluded.area, line = excluded.line"
        " WHERE excluded.source_time > current_values.source_time"
        " OR (excluded.source_time = current_values.source_time"
        " AND excluded.seq > current_values.seq)",
        {**events.params(), "received_at": received_at},
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
