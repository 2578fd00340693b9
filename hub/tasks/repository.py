"""SQL for tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.auth.scope import Scope
from hub.governance.records import TaskRow, chain_json, chain_of
from hub.storage import Connection

_COLUMNS = (
    "id, run_id, step_id, title, instructions, required, assignees, escalation_level, site, area,"
    " line, status, created_at, due_at, reminded_at, escalated_at, overdue, completed_at,"
    " completed_by, note"
)


def _task(row: Sequence[Any]) -> TaskRow:
    values = list(row)
    values[6] = chain_of(values[6])
    return TaskRow(*values)


def insert(conn: Connection, task: TaskRow) -> int:
    row = conn.execute(
        "INSERT INTO gov_tasks (run_id, step_id, title, instructions, required, assignees,"
        " escalation_level, site, area, line, status, created_at, due_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            task.run_id,
            task.step_id,
            task.title,
            task.instructions,
            task.required,
            chain_json(task.assignees),
            task.escalation_level,
            task.site,
            task.area,
            task.line,
            task.status,
            task.created_at,
            task.due_at,
        ],
    ).fetchone()
    assert row is not None
    return int(row[0])


def update(conn: Connection, task: TaskRow) -> None:
    conn.execute(
        "UPDATE gov_tasks SET escalation_level = ?, status = ?, due_at = ?, reminded_at = ?,"
        " escalated_at = ?, overdue = ?, completed_at = ?, completed_by = ?, note = ?"
        " WHERE id = ?",
        [
            task.escalation_level,
            task.status,
            task.due_at,
            task.reminded_at,
            task.escalated_at,
            task.overdue,
            task.completed_at,
            task.completed_by,
            task.note,
            task.id,
        ],
    )


def get(conn: Connection, task_id: int) -> TaskRow | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM gov_tasks WHERE id = ?", [task_id]).fetchone()
    return _task(row) if row else None


def for_run(conn: Connection, run_id: int) -> list[TaskRow]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM gov_tasks WHERE run_id = ? ORDER BY id", [run_id]
    ).fetchall()
    return [_task(row) for row in rows]


def for_step(conn: Connection, run_id: int, step_id: str) -> list[TaskRow]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM gov_tasks WHERE run_id = ? AND step_id = ? ORDER BY id",
        [run_id, step_id],
    ).fetchall()
    return [_task(row) for row in rows]


def listing(
    conn: Connection, scope: Scope | None, statuses: list[str], limit: int
) -> list[TaskRow]:
    """Tasks in ``statuses``, newest first; ``scope`` None means everywhere (the caller then
    filters by assignment, which may reach beyond the caller's own scope)."""
    scope_sql, params = scope.sql() if scope is not None else ("TRUE", {})
    params |= {"statuses": statuses, "limit": limit}
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM gov_tasks WHERE {scope_sql}"
        " AND list_contains($statuses::VARCHAR[], status) ORDER BY id DESC LIMIT $limit",
        params,
    ).fetchall()
    return [_task(row) for row in rows]
