"""SQL for what tasks and approvals share: SLA timers, delegations, actions, signers' full
names, and the live values behind a snapshot and a hold. (Constraints and holds are the feeds'
tables: hub/governance/outbound.py reaches them through their services.)"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.governance.records import ActionRow, Delegation, Timer
from hub.storage import Connection
from protocols.wire import Scalar

# --- timers -------------------------------------------------------------------------------


def insert_timer(
    conn: Connection,
    kind: str,
    target_type: str,
    target_id: int,
    level: int,
    due_at: datetime,
    now: datetime,
) -> None:
    conn.execute(
        "INSERT INTO gov_timers (kind, target_type, target_id, level, due_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [kind, target_type, target_id, level, due_at, now],
    )


def due_timers(conn: Connection, now: datetime, limit: int) -> list[Timer]:
    rows = conn.execute(
        "SELECT id, kind, target_type, target_id, level, due_at FROM gov_timers"
        " WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= ?"
        " ORDER BY due_at, id LIMIT ?",
        [now, limit],
    ).fetchall()
    return [Timer(*row) for row in rows]


def claim_timer(conn: Connection, timer_id: int, now: datetime) -> bool:
    """Mark the timer fired; False if it had fired or been cancelled (someone else won)."""
    rows = conn.execute(
        "UPDATE gov_timers SET fired_at = ? WHERE id = ? AND fired_at IS NULL"
        " AND cancelled_at IS NULL RETURNING id",
        [now, timer_id],
    ).fetchall()
    return bool(rows)


def cancel_timers(conn: Connection, target_type: str, target_id: int, now: datetime) -> None:
    conn.execute(
        "UPDATE gov_timers SET cancelled_at = ? WHERE target_type = ? AND target_id = ?"
        " AND fired_at IS NULL AND cancelled_at IS NULL",
        [now, target_type, target_id],
    )


def next_timer_due(conn: Connection) -> datetime | None:
    row = conn.execute(
        "SELECT min(due_at) FROM gov_timers WHERE fired_at IS NULL AND cancelled_at IS NULL"
    ).fetchone()
    return row[0] if row else None


def fired_timers(conn: Connection, target_type: str, target_id: int) -> list[tuple[str, int]]:
    rows = conn.execute(
        "SELECT kind, level FROM gov_timers WHERE target_type = ? AND target_id = ?"
        " AND fired_at IS NOT NULL ORDER BY fired_at, id",
        [target_type, target_id],
    ).fetchall()
    return [(str(r[0]), int(r[1])) for r in rows]


# --- delegations --------------------------------------------------------------------------

_DELEGATION_COLUMNS = (
    "id, from_user, role, to_user, starts_at, ends_at, reason, created_at, revoked_at, revoked_by"
)


def insert_delegation(conn: Connection, d: Delegation) -> int:
    row = conn.execute(
        "INSERT INTO gov_delegations (from_user, role, to_user, starts_at, ends_at, reason,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [d.from_user, d.role, d.to_user, d.starts_at, d.ends_at, d.reason, d.created_at],
    ).fetchone()
    assert row is not None
    return int(row[0])


def revoke_delegation(conn: Connection, delegation_id: int, by: str, now: datetime) -> None:
    conn.execute(
        "UPDATE gov_delegations SET revoked_at = ?, revoked_by = ? WHERE id = ?",
        [now, by, delegation_id],
    )


def get_delegation(conn: Connection, delegation_id: int) -> Delegation | None:
    row = conn.execute(
        f"SELECT {_DELEGATION_COLUMNS} FROM gov_delegations WHERE id = ?", [delegation_id]
    ).fetchone()
    return Delegation(*row) if row else None


def delegations_to(conn: Connection, username: str, now: datetime) -> list[Delegation]:
    """Delegations to ``username`` whose window is open at ``now``."""
    rows = conn.execute(
        f"SELECT {_DELEGATION_COLUMNS} FROM gov_delegations WHERE to_user = ?"
        " AND revoked_at IS NULL AND starts_at <= ? AND ends_at > ? ORDER BY id",
        [username, now, now],
    ).fetchall()
    return [Delegation(*row) for row in rows]


def delegations_of(conn: Connection, username: str | None) -> list[Delegation]:
    """Delegations from or to ``username`` (every delegation for None), newest first."""
    where, params = ("TRUE", []) if username is None else ("? IN (from_user, to_user)", [username])
    rows = conn.execute(
        f"SELECT {_DELEGATION_COLUMNS} FROM gov_delegations WHERE {where} ORDER BY id DESC"
        " LIMIT 500",
        params,
    ).fetchall()
    return [Delegation(*row) for row in rows]


# --- actions --------------------------------------------------------------------------

_ACTION_COLUMNS = (
    "id, run_id, approval_id, step_id, kind, decision, payload, agent_id, command_id, status,"
    " detail, created_at, finished_at"
)


def _action(row: Sequence[Any]) -> ActionRow:
    values = list(row)
    values[6] = json.loads(values[6])
    return ActionRow(*values)


def insert_action(conn: Connection, a: ActionRow) -> int:
    row = conn.execute(
        "INSERT INTO gov_actions (run_id, approval_id, step_id, kind, decision, payload,"
        " agent_id, command_id, status, detail, created_at, finished_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            a.run_id,
            a.approval_id,
            a.step_id,
            a.kind,
            a.decision,
            json.dumps(a.payload),
            a.agent_id,
            a.command_id,
            a.status,
            a.detail,
            a.created_at,
            a.finished_at,
        ],
    ).fetchone()
    assert row is not None
    return int(row[0])


def actions_for_run(conn: Connection, run_id: int) -> list[ActionRow]:
    rows = conn.execute(
        f"SELECT {_ACTION_COLUMNS} FROM gov_actions WHERE run_id = ? ORDER BY id", [run_id]
    ).fetchall()
    return [_action(row) for row in rows]


def answered_actions(conn: Connection) -> list[tuple[ActionRow, bool, dict[str, Any]]]:
    """Sent actions whose command the agent has answered: (action, ok, the agent's result)."""
    rows = conn.execute(
        f"SELECT {', '.join('a.' + c.strip() for c in _ACTION_COLUMNS.split(','))},"
        " c.status = 'done', c.result FROM gov_actions a JOIN commands c USING (command_id)"
        " WHERE a.status = 'sent' AND c.status <> 'pending' ORDER BY a.id"
    ).fetchall()
    return [
        (_action(row[:13]), bool(row[13]), json.loads(row[14]) if row[14] else {}) for row in rows
    ]


def has_answered_actions(conn: Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM gov_actions a JOIN commands c USING (command_id)"
        " WHERE a.status = 'sent' AND c.status <> 'pending' LIMIT 1"
    ).fetchone()
    return row is not None


def finish_action(
    conn: Connection, action_id: int, status: str, detail: str | None, now: datetime
) -> None:
    conn.execute(
        "UPDATE gov_actions SET status = ?, detail = ?, finished_at = ? WHERE id = ?",
        [status, detail, now, action_id],
    )


def run_location(conn: Connection, run_id: int) -> tuple[str | None, str | None]:
    row = conn.execute("SELECT site, area FROM gov_runs WHERE id = ?", [run_id]).fetchone()
    return (row[0], row[1]) if row else (None, None)


# --- people, agents and live values -------------------------------------------------------


def full_name(conn: Connection, username: str) -> str | None:
    row = conn.execute("SELECT full_name FROM users WHERE username = ?", [username]).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def set_full_name(conn: Connection, username: str, name: str) -> bool:
    rows = conn.execute(
        "UPDATE users SET full_name = ? WHERE username = ? RETURNING username", [name, username]
    ).fetchall()
    return bool(rows)


def live_value(
    conn: Connection, tag: str, site: str | None, line: str | None, agent_id: str | None
) -> Scalar:
    """The current value of ``tag`` on the line (or at the agent, if the run names no line)."""
    if line is not None:
        row = conn.execute(
            "SELECT value FROM current_values WHERE tag = ? AND site IS NOT DISTINCT FROM ?"
            " AND line = ? ORDER BY source_time DESC LIMIT 1",
            [tag, site, line],
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT value FROM current_values WHERE tag = ? AND agent_id = ?", [tag, agent_id]
        ).fetchone()
    if row is None or row[0] is None:
        return None
    value: Scalar = json.loads(row[0])
    return value


def snapshot_rows(
    conn: Connection,
    filters: dict[str, str | None],
    globs: Sequence[str],
    limit: int,
) -> list[tuple[Any, ...]]:
    """(agent_id, tag, value, quality, source_time, received_at) of the current values matching
    ``filters`` (column -> value) and any of ``globs``."""
    where = []
    params: dict[str, Any] = {"limit": limit}
    for column, value in filters.items():
        where.append(f"{column} IS NOT DISTINCT FROM ${column}")
        params[column] = value
    patterns = []
    for index, glob in enumerate(globs):
        patterns.append(f"tag GLOB $g{index}")
        params[f"g{index}"] = glob
    where.append(f"({' OR '.join(patterns)})")
    return conn.execute(
        "SELECT agent_id, tag, value, quality, source_time, received_at FROM current_values"
        f" WHERE {' AND '.join(where)} ORDER BY agent_id, tag LIMIT $limit",
        params,
    ).fetchall()
