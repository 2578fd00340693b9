"""SQL for floor constraints and their change log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.auth.scope import Scope
from hub.constraints.schemas import Constraint, ConstraintChange, ConstraintFilters
from hub.storage import Connection

_COLUMNS = (
    "c.id, c.source, c.status, c.site, c.area, c.line, c.equipment, c.capacity_impact_percent,"
    " c.lot, c.reason, c.expected_end, c.posted_by, c.started_at, c.ended_at, c.end_reason,"
    " c.run_id, c.alarm_id, c.hold_id"
)
_RETURNING = _COLUMNS.replace("c.", "")


def _constraint(row: Sequence[Any]) -> Constraint:
    return Constraint(
        id=row[0],
        source=row[1],
        status=row[2],
        site=row[3],
        area=row[4],
        line=row[5],
        equipment=row[6],
        capacity_impact_percent=row[7],
        lot=row[8],
        lot_held=row[2] == "lot_held",
        reason=row[9],
        expected_end=row[10],
        posted_by=row[11],
        started_at=row[12],
        ended_at=row[13],
        end_reason=row[14],
        run_id=row[15],
        alarm_id=row[16],
        hold_id=row[17],
    )


@dataclass(frozen=True)
class NewConstraint:
    source: str
    status: str
    reason: str
    posted_by: str
    site: str | None = None
    area: str | None = None
    line: str | None = None
    equipment: str | None = None
    capacity_impact_percent: float | None = None
    lot: str | None = None
    expected_end: datetime | None = None
    source_key: str | None = None
    run_id: int | None = None
    alarm_id: int | None = None
    hold_id: int | None = None


def insert(conn: Connection, new: NewConstraint, now: datetime) -> Constraint:
    row = conn.execute(
        "INSERT INTO floor_constraints (source, source_key, run_id, alarm_id, hold_id, site,"
        " area, line, equipment, status, capacity_impact_percent, lot, reason, expected_end,"
        " posted_by, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        f" RETURNING {_RETURNING}",
        [
            new.source,
            new.source_key,
            new.run_id,
            new.alarm_id,
            new.hold_id,
            new.site,
            new.area,
            new.line,
            new.equipment,
            new.status,
            new.capacity_impact_percent,
            new.lot,
            new.reason,
            new.expected_end,
            new.posted_by,
            now,
        ],
    ).fetchone()
    assert row is not None
    created = _constraint(row)
    add_changes(conn, [created.id], "opened", now)
    return created


def end(conn: Connection, ids: Sequence[int], reason: str, now: datetime) -> list[Constraint]:
    """End the open ones among ``ids``; returns them as ended."""
    if not ids:
        return []
    rows = conn.execute(
        "UPDATE floor_constraints SET ended_at = ?, end_reason = ?"
        " WHERE list_contains(?::BIGINT[], id) AND ended_at IS NULL"
        f" RETURNING {_RETURNING}",
        [now, reason, list(ids)],
    ).fetchall()
    ended = [_constraint(r) for r in rows]
    add_changes(conn, [c.id for c in ended], "ended", now)
    return ended


def add_changes(conn: Connection, ids: Sequence[int], change: str, now: datetime) -> None:
    if not ids:
        return
    conn.execute(
        "INSERT INTO constraint_changes (constraint_id, change, changed_at)"
        " SELECT unnest(?::BIGINT[]), ?, ?",
        [list(ids), change, now],
    )


def get(conn: Connection, constraint_id: int) -> Constraint | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM floor_constraints c WHERE c.id = ?", [constraint_id]
    ).fetchone()
    return _constraint(row) if row else None


def open_posted_like(
    conn: Connection, site: str | None, line: str | None, equipment: str | None, lot: str | None
) -> list[int]:
    """Open posted constraints on the same equipment and lot (a new post supersedes them)."""
    rows = conn.execute(
        "SELECT id FROM floor_constraints WHERE ended_at IS NULL"
        " AND source IN ('playbook', 'api') AND site IS NOT DISTINCT FROM ?"
        " AND line IS NOT DISTINCT FROM ? AND equipment IS NOT DISTINCT FROM ?"
        " AND lot IS NOT DISTINCT FROM ?",
        [site, line, equipment, lot],
    ).fetchall()
    return [int(r[0]) for r in rows]


def open_posted_of_run(conn: Connection, run_id: int) -> list[int]:
    """Open constraints posted by the governed run ``run_id``."""
    rows = conn.execute(
        "SELECT id FROM floor_constraints WHERE ended_at IS NULL AND run_id = ? ORDER BY id",
        [run_id],
    ).fetchall()
    return [int(r[0]) for r in rows]


def of_run(conn: Connection, run_id: int) -> list[Constraint]:
    """Every constraint the governed run ``run_id`` posted, open or ended, oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM floor_constraints c WHERE c.run_id = ? ORDER BY c.id", [run_id]
    ).fetchall()
    return [_constraint(r) for r in rows]


def open_derived(conn: Connection) -> dict[str, int]:
    """source_key -> id of every open derived constraint."""
    rows = conn.execute(
        "SELECT source_key, id FROM floor_constraints"
        " WHERE ended_at IS NULL AND source_key IS NOT NULL"
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def open_for_resolved_runs(conn: Connection) -> list[int]:
    """Open posted constraints whose governed run is resolved (the run's outcome ends them)."""
    if not table_exists(conn, "gov_runs"):
        return []
    rows = conn.execute(
        "SELECT c.id FROM floor_constraints c JOIN gov_runs r ON r.id = c.run_id"
        " WHERE c.ended_at IS NULL AND r.resolved_at IS NOT NULL"
    ).fetchall()
    return [int(r[0]) for r in rows]


def table_exists(conn: Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])


ActiveAlarm = tuple[int, str, str | None, str | None, str | None, str | None, str | None, str]
"""(alarm id, rule, category, site, area, line, tag, agent_id)."""


def active_alarms(conn: Connection) -> list[ActiveAlarm]:
    """Active alarm occurrences whose alarm is in service (out-of-service alarms mean nothing)."""
    rows = conn.execute(
        "SELECT a.id, a.rule, a.category, a.site, a.area, a.line, a.tag, a.agent_id"
        " FROM alarms a JOIN alarm_definitions d USING (agent_id, rule)"
        " WHERE a.active AND NOT d.out_of_service ORDER BY a.id"
    ).fetchall()
    return [(int(r[0]), str(r[1]), r[2], r[3], r[4], r[5], r[6], str(r[7])) for r in rows]


def list_open(conn: Connection, filters: ConstraintFilters, scope: Scope) -> list[Constraint]:
    scope_sql, params = scope.sql("c.site", "c.area")
    where = ["c.ended_at IS NULL", scope_sql]
    for column in ("site", "area", "line", "status"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"c.{column} = ${column}")
            params[column] = value
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM floor_constraints c WHERE {' AND '.join(where)}"
        " ORDER BY c.started_at DESC, c.id DESC",
        params,
    ).fetchall()
    return [_constraint(r) for r in rows]


def last_change_id(conn: Connection) -> int:
    row = conn.execute("SELECT coalesce(max(id), 0) FROM constraint_changes").fetchone()
    return int(row[0]) if row else 0


def changes_after(conn: Connection, after: int, limit: int) -> list[ConstraintChange]:
    rows = conn.execute(
        f"SELECT ch.id, ch.change, ch.changed_at, {_COLUMNS} FROM constraint_changes ch"
        " JOIN floor_constraints c ON c.id = ch.constraint_id"
        " WHERE ch.id > ? ORDER BY ch.id LIMIT ?",
        [after, limit],
    ).fetchall()
    return [
        ConstraintChange(id=r[0], change=r[1], at=r[2], constraint=_constraint(r[3:])) for r in rows
    ]
