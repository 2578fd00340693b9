"""SQL for the pages' own reads: communication states of sources and agents, the chain of an
occurrence, counter readings and the plan version for the planner board."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple

from hub.auth.scope import Scope
from hub.storage import Connection


class CommRow(NamedTuple):
    agent_id: str
    source: str
    up: bool
    source_time: datetime
    reason: str | None


class HealthRow(NamedTuple):
    agent_id: str
    context: dict[str, Any]
    source_time: datetime
    received_at: datetime
    site: str | None
    area: str | None
    line: str | None


class SeenRow(NamedTuple):
    agent_id: str
    last_seen: datetime
    site: str | None
    area: str | None
    line: str | None


def latest_comm(conn: Connection, scope: Scope, since: datetime) -> list[CommRow]:
    """The newest ``comm.lost``/``comm.restored`` per (agent, source) received since ``since``.

    The window keeps the scan short (events arrive in time order, so DuckDB skips old row
    groups); older states are covered by the agents' periodic health events.
    """
    scope_sql, params = scope.sql()
    rows = conn.execute(
        "SELECT agent_id, context->>'source' AS source, type, source_time, context->>'reason'"
        " FROM events WHERE type IN ('comm.lost', 'comm.restored') AND received_at >= $since"
        f" AND context->>'source' IS NOT NULL AND {scope_sql}"
        " QUALIFY row_number() OVER (PARTITION BY agent_id, source"
        " ORDER BY source_time DESC, seq DESC) = 1",
        {**params, "since": since},
    ).fetchall()
    return [CommRow(r[0], r[1], r[2] == "comm.restored", r[3], r[4]) for r in rows]


def latest_health(conn: Connection, scope: Scope, since: datetime) -> list[HealthRow]:
    """The newest ``health`` event per agent received since ``since``."""
    scope_sql, params = scope.sql()
    rows = conn.execute(
        "SELECT agent_id, context, source_time, received_at, site, area, line FROM events"
        f" WHERE type = 'health' AND received_at >= $since AND {scope_sql}"
        " QUALIFY row_number() OVER (PARTITION BY agent_id"
        " ORDER BY source_time DESC, seq DESC) = 1",
        {**params, "since": since},
    ).fetchall()
    return [
        HealthRow(r[0], json.loads(r[1]) if r[1] else {}, r[2], r[3], r[4], r[5], r[6])
        for r in rows
    ]


def last_values_seen(conn: Connection, scope: Scope) -> list[SeenRow]:
    """Per agent, when its newest current value arrived (the live table is small: no window)."""
    scope_sql, params = scope.sql()
    rows = conn.execute(
        "SELECT agent_id, max(received_at), arg_max(site, received_at),"
        " arg_max(area, received_at), arg_max(line, received_at)"
        f" FROM current_values WHERE {scope_sql} GROUP BY agent_id",
        params,
    ).fetchall()
    return [SeenRow(r[0], r[1], r[2], r[3], r[4]) for r in rows]


_AUDIT_COLUMNS = (
    "seq, recorded_at, actor, action, object_type, object_id, site, area, before, after, reason,"
    " data, prev_hash, hash"
)


def runs_of_alarm(conn: Connection, alarm_id: int) -> list[str]:
    """Ids of the playbook runs an alarm started, as their ``run.started`` records say."""
    rows = conn.execute(
        "SELECT object_id FROM audit_log WHERE action = 'run.started' AND object_type = 'run'"
        " AND json_extract_string(data, '$.alarm_id') = $alarm ORDER BY seq",
        {"alarm": str(alarm_id)},
    ).fetchall()
    return [str(r[0]) for r in rows]


def occurrence_records(
    conn: Connection, alarm_id: int, run_ids: list[str], scope: Scope, limit: int
) -> list[tuple[Any, ...]]:
    """Audit rows of one occurrence in chain order: the alarm's own, the identifications made
    for it at panels, and everything recorded for the runs it started (``data.run_id``)."""
    scope_sql, params = scope.sql()
    linked = [
        "(object_type = 'alarm' AND object_id = $alarm)",
        "(object_type = 'user' AND json_extract_string(data, '$.subject') = $subject)",
    ]
    params = {**params, "alarm": str(alarm_id), "subject": f"alarm:{alarm_id}", "limit": limit}
    if run_ids:
        linked.append("json_extract_string(data, '$.run_id') = ANY($runs::VARCHAR[])")
        params["runs"] = run_ids
    return conn.execute(
        f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE ({' OR '.join(linked)}) AND {scope_sql}"
        " ORDER BY seq LIMIT $limit",
        params,
    ).fetchall()


def counter_readings(
    conn: Connection,
    scope: Scope,
    site: str,
    line: str,
    tag: str,
    since: datetime,
    until: datetime,
) -> list[tuple[datetime, float]]:
    """Numeric readings of ``tag`` on ``site``/``line`` (value events, source time order)."""
    scope_sql, params = scope.sql()
    rows = conn.execute(
        "SELECT source_time, TRY_CAST(value::VARCHAR AS DOUBLE) AS v FROM events"
        " WHERE type = 'value' AND tag = $tag AND site = $site AND line = $line"
        f" AND source_time >= $since AND source_time <= $until AND {scope_sql}"
        " AND v IS NOT NULL ORDER BY source_time, seq",
        {**params, "tag": tag, "site": site, "line": line, "since": since, "until": until},
    ).fetchall()
    return [(r[0], float(r[1])) for r in rows]


def decisions_version(conn: Connection) -> tuple[int, ...]:
    """Moves when a task or an approval opens or closes anywhere: a live board then re-reads
    its open decisions (through the API, which applies the caller's scope)."""
    row = conn.execute(
        "SELECT (SELECT coalesce(max(id), 0) FROM gov_tasks),"
        " (SELECT count(*) FROM gov_tasks WHERE status = 'open'),"
        " (SELECT coalesce(max(id), 0) FROM gov_approvals),"
        " (SELECT count(*) FROM gov_approvals WHERE status = 'pending')"
    ).fetchone()
    return tuple(int(v) for v in row) if row else ()


def plans_version(conn: Connection) -> int:
    """The newest plan upload's id (0 before the first): a live board re-reads when it moves."""
    row = conn.execute("SELECT coalesce(max(id), 0) FROM plan_uploads").fetchone()
    return int(row[0]) if row else 0
