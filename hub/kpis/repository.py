"""SQL for the KPIs: each query returns rows keyed by (site, area) for events in [start, end).

Governance tables (gov_*) are read only if they exist; :func:`missing_tables` says which do not.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.storage import Connection

Key = tuple[str | None, str | None]
Dist = tuple[int, float | None, float | None]

GOVERNANCE_TABLES = ("gov_runs", "gov_steps", "gov_approvals", "gov_signatures")


def missing_tables(conn: Connection, names: Sequence[str]) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE list_contains(?::VARCHAR[], table_name)",
        [list(names)],
    ).fetchall()
    present = {str(r[0]) for r in rows}
    return [n for n in names if n not in present]


def _distribution(conn: Connection, sql: str, start: datetime, end: datetime) -> dict[Key, Dist]:
    """``sql`` selects (site, area, seconds) with $start/$end; returns count, p50, p90 per key."""
    rows = conn.execute(
        "SELECT site, area, count(*), quantile_cont(seconds, 0.5), quantile_cont(seconds, 0.9)"
        f" FROM ({sql}) GROUP BY site, area",
        {"start": start, "end": end},
    ).fetchall()
    return {(r[0], r[1]): (int(r[2]), r[3], r[4]) for r in rows}


def _counts(conn: Connection, sql: str, start: datetime, end: datetime) -> dict[Key, int]:
    rows = conn.execute(
        f"SELECT site, area, count(*) FROM ({sql}) GROUP BY site, area",
        {"start": start, "end": end},
    ).fetchall()
    return {(r[0], r[1]): int(r[2]) for r in rows}


def detection_latency(conn: Connection, start: datetime, end: datetime) -> dict[Key, Dist]:
    return _distribution(
        conn,
        "SELECT site, area, epoch(received_at) - epoch(source_time) AS seconds FROM events"
        " WHERE type = 'alarm.raised' AND received_at >= $start AND received_at < $end",
        start,
        end,
    )


def raises_by_alarm(
    conn: Connection, start: datetime, end: datetime
) -> list[tuple[str | None, str | None, str, str, str | None, int]]:
    """(site, area, agent_id, rule, tag, raises) of alarms raised in the window."""
    rows = conn.execute(
        "SELECT site, area, agent_id, rule, tag, count(*) FROM alarms"
        " WHERE raised_at >= $start AND raised_at < $end GROUP BY ALL ORDER BY count(*) DESC",
        {"start": start, "end": end},
    ).fetchall()
    return [(r[0], r[1], str(r[2]), str(r[3]), r[4], int(r[5])) for r in rows]


def raises_per_10min(conn: Connection, start: datetime, end: datetime) -> dict[Key, list[int]]:
    """Raises per 10-minute interval (from ``start``) that had any, per key."""
    rows = conn.execute(
        "SELECT site, area, count(*) FROM alarms WHERE raised_at >= $start AND raised_at < $end"
        " GROUP BY site, area, floor((epoch(raised_at) - epoch($start::TIMESTAMPTZ)) / 600)",
        {"start": start, "end": end},
    ).fetchall()
    out: dict[Key, list[int]] = {}
    for r in rows:
        out.setdefault((r[0], r[1]), []).append(int(r[2]))
    return out


def chattering(
    conn: Connection, start: datetime, end: datetime
) -> list[tuple[str | None, str | None, str, str]]:
    """(site, area, agent_id, rule) of alarms raised 3+ times within 60 s in the window."""
    rows = conn.execute(
        "SELECT DISTINCT site, area, agent_id, rule FROM (SELECT site, area, agent_id, rule,"
        " count(*) OVER (PARTITION BY agent_id, rule ORDER BY raised_at"
        " RANGE BETWEEN INTERVAL 60 SECONDS PRECEDING AND CURRENT ROW) AS n FROM alarms"
        " WHERE raised_at >= $start AND raised_at < $end) WHERE n >= 3 ORDER BY agent_id, rule",
        {"start": start, "end": end},
    ).fetchall()
    return [(r[0], r[1], str(r[2]), str(r[3])) for r in rows]


def approval_latency(conn: Connection, start: datetime, end: datetime) -> dict[Key, Dist]:
    return _distribution(
        conn,
        "SELECT site, area, epoch(decided_at) - epoch(created_at) AS seconds FROM gov_approvals"
        " WHERE decided_at >= $start AND decided_at < $end",
        start,
        end,
    )


def escalations(conn: Connection, start: datetime, end: datetime) -> dict[Key, int]:
    return _counts(
        conn,
        "SELECT site, area FROM audit_log WHERE action LIKE '%.escalated'"
        " AND recorded_at >= $start AND recorded_at < $end",
        start,
        end,
    )


def bypass_refusals(conn: Connection, start: datetime, end: datetime) -> dict[Key, int]:
    return _counts(
        conn,
        "SELECT site, area FROM audit_log WHERE action LIKE '%bypass_refused'"
        " AND recorded_at >= $start AND recorded_at < $end",
        start,
        end,
    )


def time_to_all_notified(conn: Connection, start: datetime, end: datetime) -> dict[Key, Dist]:
    return _distribution(
        conn,
        "SELECT site, area, epoch(all_notified_at) - epoch(occurred_at) AS seconds FROM gov_runs"
        " WHERE all_notified_at >= $start AND all_notified_at < $end",
        start,
        end,
    )


def time_to_resolve(conn: Connection, start: datetime, end: datetime) -> dict[Key, Dist]:
    return _distribution(
        conn,
        "SELECT site, area, epoch(resolved_at) - epoch(occurred_at) AS seconds FROM gov_runs"
        " WHERE resolved_at >= $start AND resolved_at < $end",
        start,
        end,
    )


def bypassed_steps(conn: Connection, start: datetime, end: datetime) -> dict[Key, int]:
    return _counts(
        conn,
        "SELECT r.site, r.area FROM gov_steps s JOIN gov_runs r ON r.id = s.run_id"
        " WHERE s.required AND s.status = 'skipped'"
        " AND s.finished_at >= $start AND s.finished_at < $end",
        start,
        end,
    )


def runs_with_recurrences(conn: Connection, start: datetime, end: datetime) -> dict[Key, int]:
    return _counts(
        conn,
        "SELECT site, area FROM gov_runs WHERE recurrences > 0"
        " AND created_at >= $start AND created_at < $end",
        start,
        end,
    )


def signature_snapshots(
    conn: Connection, start: datetime, end: datetime
) -> list[tuple[str | None, str | None, Any]]:
    """(site, area, snapshot) of each signature given in the window."""
    rows = conn.execute(
        "SELECT a.site, a.area, s.snapshot FROM gov_signatures s"
        " JOIN gov_approvals a ON a.id = s.approval_id"
        " WHERE s.signed_at >= $start AND s.signed_at < $end",
        {"start": start, "end": end},
    ).fetchall()
    out = []
    for site, area, text in rows:
        try:
            out.append((site, area, json.loads(text)))
        except (TypeError, ValueError):
            continue
    return out
