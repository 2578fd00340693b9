"""SQL for plan uploads and entries, and for where each agent reports from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.auth.scope import Scope
from hub.plans.schemas import PlanEntry, PlanEntryIn, PlanFilters
from hub.storage import Connection

_COLUMNS = (
    "id, upload_id, site, area, line, product, lot, planned_quantity, planned_rate_per_hour,"
    " start_at, end_at, shift, replaced_by"
)


def _entry(row: Sequence[Any]) -> PlanEntry:
    return PlanEntry(
        id=row[0],
        upload_id=row[1],
        site=row[2],
        area=row[3],
        line=row[4],
        product=row[5],
        lot=row[6],
        planned_quantity=row[7],
        planned_rate_per_hour=row[8],
        start=row[9],
        end=row[10],
        shift=row[11],
        replaced_by=row[12],
    )


def line_areas(conn: Connection) -> dict[tuple[str, str], set[str]]:
    """(site, line) -> the areas its agents report (from live values and alarms)."""
    rows = conn.execute(
        "SELECT DISTINCT site, line, area FROM current_values"
        " WHERE site IS NOT NULL AND line IS NOT NULL AND area IS NOT NULL"
        " UNION SELECT DISTINCT site, line, area FROM alarms"
        " WHERE site IS NOT NULL AND line IS NOT NULL AND area IS NOT NULL"
    ).fetchall()
    areas: dict[tuple[str, str], set[str]] = {}
    for site, line, area in rows:
        areas.setdefault((str(site), str(line)), set()).add(str(area))
    return areas


def insert_upload(
    conn: Connection, by: str, now: datetime, fmt: str, source: str | None, count: int
) -> int:
    row = conn.execute(
        "INSERT INTO plan_uploads (uploaded_by, uploaded_at, format, source, entries)"
        " VALUES (?, ?, ?, ?, ?) RETURNING id",
        [by, now, fmt, source, count],
    ).fetchone()
    assert row is not None
    return int(row[0])


def replace_window(
    conn: Connection, upload_id: int, site: str, line: str, start: datetime, end: datetime
) -> int:
    """Mark the entries in force on (site, line) that overlap [start, end) as replaced."""
    rows = conn.execute(
        "UPDATE plan_entries SET replaced_by = ? WHERE replaced_by IS NULL AND site = ?"
        " AND line = ? AND start_at < ? AND end_at > ? RETURNING id",
        [upload_id, site, line, end, start],
    ).fetchall()
    return len(rows)


def insert_entries(
    conn: Connection, upload_id: int, entries: Sequence[tuple[PlanEntryIn, str | None]]
) -> None:
    conn.execute(
        "INSERT INTO plan_entries (upload_id, site, area, line, product, lot, planned_quantity,"
        " planned_rate_per_hour, start_at, end_at, shift)"
        " SELECT $1, unnest($2::VARCHAR[]), unnest($3::VARCHAR[]), unnest($4::VARCHAR[]),"
        " unnest($5::VARCHAR[]), unnest($6::VARCHAR[]), unnest($7::DOUBLE[]),"
        " unnest($8::DOUBLE[]), unnest($9::TIMESTAMPTZ[]), unnest($10::TIMESTAMPTZ[]),"
        " unnest($11::VARCHAR[])",
        [
            upload_id,
            [e.site for e, _ in entries],
            [area for _, area in entries],
            [e.line for e, _ in entries],
            [e.product for e, _ in entries],
            [e.lot for e, _ in entries],
            [e.planned_quantity for e, _ in entries],
            [e.rate_per_hour for e, _ in entries],
            [e.start for e, _ in entries],
            [e.end for e, _ in entries],
            [e.shift for e, _ in entries],
        ],
    )


def entries_for(
    conn: Connection, site: str | None, lines: Sequence[str], ending_after: datetime, limit: int
) -> list[PlanEntry]:
    """Entries in force on ``lines`` (of ``site``, or of any site when None) not yet ended."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM plan_entries WHERE replaced_by IS NULL"
        " AND list_contains($lines::VARCHAR[], line)"
        " AND ($site IS NULL OR site = $site) AND end_at > $after"
        " ORDER BY line, start_at LIMIT $limit",
        {"lines": list(lines), "site": site, "after": ending_after, "limit": limit},
    ).fetchall()
    return [_entry(r) for r in rows]


def shift_window(
    conn: Connection, site: str | None, line: str, at: datetime
) -> tuple[datetime, datetime] | None:
    """(end of the plan entry in force on the line at ``at``, end of its shift), or None when
    no entry is in force. The shift runs on while entries of the same ``shift`` label follow
    each other without a gap; an entry without a label is a shift of its own."""
    rows = conn.execute(
        "SELECT start_at, end_at, shift FROM plan_entries WHERE replaced_by IS NULL"
        " AND site IS NOT DISTINCT FROM ? AND line = ? AND end_at > ? ORDER BY start_at, id"
        " LIMIT 1000",
        [site, line, at],
    ).fetchall()
    current = next((r for r in rows if r[0] <= at), None)
    if current is None:
        return None
    entry_end, shift_end, label = current[1], current[1], current[2]
    if label is None:
        return entry_end, shift_end
    for start, end, shift in rows:
        if start > shift_end:
            break
        if shift == label and end > shift_end:
            shift_end = end
    return entry_end, shift_end


def list_entries(
    conn: Connection,
    filters: PlanFilters,
    scope: Scope,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[PlanEntry]:
    scope_sql, params = scope.sql()
    where = [scope_sql]
    if not filters.include_replaced:
        where.append("replaced_by IS NULL")
    for column in ("site", "area", "line"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"{column} = ${column}")
            params[column] = value
    if filters.since is not None:
        where.append("end_at > $since")
        params["since"] = filters.since
    if filters.until is not None:
        where.append("start_at < $until")
        params["until"] = filters.until
    if after is not None:
        where.append("(start_at > $after_at OR (start_at = $after_at AND id > $after_id))")
        params["after_at"], params["after_id"] = after
    params["limit"] = limit
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM plan_entries WHERE {' AND '.join(where)}"
        " ORDER BY start_at, id LIMIT $limit",
        params,
    ).fetchall()
    return [_entry(r) for r in rows]


def agent_locations(conn: Connection) -> dict[str, tuple[str | None, list[str]]]:
    """agent_id -> (site, lines) of every agent that has reported a value or an alarm.

    An agent reports one location in its event context; if it moved, the newest site wins and
    its lines are those reported at that site.
    """
    rows = conn.execute(
        "WITH seen AS ("
        " SELECT agent_id, site, line, received_at AS seen_at FROM current_values"
        " UNION ALL SELECT agent_id, site, line, updated_at AS seen_at FROM alarms),"
        " newest AS (SELECT agent_id, arg_max(site, seen_at) AS site FROM seen GROUP BY agent_id)"
        " SELECT n.agent_id, n.site,"
        " list_sort(list_distinct(list(s.line) FILTER (WHERE s.line IS NOT NULL)))"
        " FROM newest n LEFT JOIN seen s ON s.agent_id = n.agent_id"
        " AND s.site IS NOT DISTINCT FROM n.site GROUP BY n.agent_id, n.site ORDER BY n.agent_id"
    ).fetchall()
    return {str(r[0]): (r[1], [str(x) for x in (r[2] or [])]) for r in rows}


def sync_digests(conn: Connection) -> dict[tuple[str, str], str]:
    rows = conn.execute("SELECT agent_id, kind, digest FROM agent_feed_sync").fetchall()
    return {(str(r[0]), str(r[1])): str(r[2]) for r in rows}


def save_sync(
    conn: Connection, agent_id: str, kind: str, digest: str, command_id: str, now: datetime
) -> None:
    conn.execute(
        "INSERT INTO agent_feed_sync (agent_id, kind, digest, command_id, sent_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (agent_id, kind) DO UPDATE SET"
        " digest = excluded.digest, command_id = excluded.command_id, sent_at = excluded.sent_at",
        [agent_id, kind, digest, command_id, now],
    )
