"""SQL for playbook versions, runs and their steps, and the trigger scan over alarm raises."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.auth.scope import Scope
from hub.governance.records import Run, StepState
from hub.playbooks.match import Trigger
from hub.storage import Connection
from protocols.wire import Scalar

CURSOR = "alarm_raises"
FEED_CURSOR = "feed_events"
"""The governance cursors: over alarm raises, and over the feeds' events (recommendations)."""


def save_version(
    conn: Connection,
    version: str,
    playbook_id: str,
    file: str,
    content: str,
    definition: str,
    now: datetime,
) -> bool:
    """Store a loaded text unless that version is known; True if it was new."""
    rows = conn.execute(
        "INSERT INTO playbook_versions (version, playbook_id, file, content, definition, loaded_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING version",
        [version, playbook_id, file, content, definition, now],
    ).fetchall()
    return bool(rows)


def definition(conn: Connection, version: str) -> str | None:
    row = conn.execute(
        "SELECT definition FROM playbook_versions WHERE version = ?", [version]
    ).fetchone()
    return str(row[0]) if row else None


_RUN_COLUMNS = (
    "id, playbook_id, policy_version, trigger, alarm_id, agent_id, rule, tag, severity, category,"
    " site, area, line, requested_by, reason, context, status, recurrences, occurred_at,"
    " created_at, all_notified_at, first_decision_at, steps_done_at, resolved_at, resolved_by,"
    " resolution_code, resolution_note"
)


def _run(row: Sequence[Any]) -> Run:
    values = list(row)
    values[15] = json.loads(values[15])
    return Run(*values)


def insert_run(conn: Connection, run: Run) -> int:
    row = conn.execute(
        "INSERT INTO gov_runs (playbook_id, policy_version, trigger, alarm_id, agent_id, rule,"
        " tag, severity, category, site, area, line, requested_by, reason, context, status,"
        " recurrences, occurred_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            run.playbook_id,
            run.policy_version,
            run.trigger,
            run.alarm_id,
            run.agent_id,
            run.rule,
            run.tag,
            run.severity,
            run.category,
            run.site,
            run.area,
            run.line,
            run.requested_by,
            run.reason,
            json.dumps(run.context),
            run.status,
            run.recurrences,
            run.occurred_at,
            run.created_at,
        ],
    ).fetchone()
    assert row is not None
    return int(row[0])


def update_run(conn: Connection, run: Run) -> None:
    conn.execute(
        "UPDATE gov_runs SET status = ?, recurrences = ?, all_notified_at = ?,"
        " first_decision_at = ?, steps_done_at = ?, resolved_at = ?, resolved_by = ?,"
        " resolution_code = ?, resolution_note = ? WHERE id = ?",
        [
            run.status,
            run.recurrences,
            run.all_notified_at,
            run.first_decision_at,
            run.steps_done_at,
            run.resolved_at,
            run.resolved_by,
            run.resolution_code,
            run.resolution_note,
            run.id,
        ],
    )


def get_run(conn: Connection, run_id: int) -> Run | None:
    row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM gov_runs WHERE id = ?", [run_id]).fetchone()
    return _run(row) if row else None


def open_run_for(conn: Connection, playbook_id: str, agent_id: str, rule: str) -> Run | None:
    row = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM gov_runs WHERE playbook_id = ? AND agent_id = ?"
        " AND rule = ? AND status <> 'resolved' ORDER BY id DESC LIMIT 1",
        [playbook_id, agent_id, rule],
    ).fetchone()
    return _run(row) if row else None


def list_runs(
    conn: Connection, scope: Scope, status: str | None, before: int | None, limit: int
) -> list[Run]:
    scope_sql, params = scope.sql()
    where = [scope_sql]
    if status is not None:
        where.append("status = $status")
        params["status"] = status
    if before is not None:
        where.append("id < $before")
        params["before"] = before
    params["limit"] = limit
    rows = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM gov_runs WHERE {' AND '.join(where)}"
        " ORDER BY id DESC LIMIT $limit",
        params,
    ).fetchall()
    return [_run(row) for row in rows]


_STEP_COLUMNS = "run_id, step_id, parent, kind, required, status, outcome, started_at, finished_at"


def steps(conn: Connection, run_id: int) -> dict[str, StepState]:
    rows = conn.execute(
        f"SELECT {_STEP_COLUMNS} FROM gov_steps WHERE run_id = ? ORDER BY started_at, step_id",
        [run_id],
    ).fetchall()
    return {row[1]: StepState(*row) for row in rows}


def insert_step(conn: Connection, step: StepState) -> None:
    conn.execute(
        f"INSERT INTO gov_steps ({_STEP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            step.run_id,
            step.step_id,
            step.parent,
            step.kind,
            step.required,
            step.status,
            step.outcome,
            step.started_at,
            step.finished_at,
        ],
    )


def update_step(conn: Connection, step: StepState) -> None:
    conn.execute(
        "UPDATE gov_steps SET status = ?, outcome = ?, finished_at = ?"
        " WHERE run_id = ? AND step_id = ?",
        [step.status, step.outcome, step.finished_at, step.run_id, step.step_id],
    )


def cursor(conn: Connection, name: str = CURSOR) -> int:
    row = conn.execute("SELECT position FROM gov_cursor WHERE name = ?", [name]).fetchone()
    return int(row[0]) if row else 0


def move_cursor(conn: Connection, position: int, name: str = CURSOR) -> None:
    conn.execute(
        "INSERT INTO gov_cursor (name, position) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET position = excluded.position",
        [name, position],
    )


def raises_after(
    conn: Connection, position: int, limit: int
) -> list[tuple[int, int, Trigger, datetime, Scalar]]:
    """(transition id, alarm id, trigger facts, raised at, value) of raises after ``position``."""
    rows = conn.execute(
        "SELECT t.id, a.id, a.agent_id, a.rule, a.tag, a.severity, a.category, a.site, a.area,"
        " a.line, a.raised_at, a.value FROM alarm_transitions t JOIN alarms a ON a.id = t.alarm_id"
        " WHERE t.action = 'raised' AND t.id > ? ORDER BY t.id LIMIT ?",
        [position, limit],
    ).fetchall()
    return [
        (
            int(r[0]),
            int(r[1]),
            Trigger("alarm.raised", r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]),
            r[10],
            json.loads(r[11]) if r[11] is not None else None,
        )
        for r in rows
    ]


def last_raise(conn: Connection) -> int:
    row = conn.execute(
        "SELECT coalesce(max(id), 0) FROM alarm_transitions WHERE action = 'raised'"
    ).fetchone()
    return int(row[0]) if row else 0


def alarm_acked_at(conn: Connection, alarm_id: int) -> datetime | None:
    row = conn.execute("SELECT acked_at FROM alarms WHERE id = ?", [alarm_id]).fetchone()
    return row[0] if row else None
