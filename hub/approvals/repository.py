"""SQL for approvals and their signatures."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hub.auth.scope import Scope
from hub.governance.records import ApprovalRow, SignatureRow, chain_json, chain_of, snapshot_of
from hub.playbooks.model import Assignee
from hub.storage import Connection

_COLUMNS = (
    "id, run_id, step_id, title, meaning, mode, required, separation_of_duties, slots, assignees,"
    " escalation_level, requested_by, default_decision, site, area, line, status, version,"
    " created_at, due_at, snapshot, reminded_at, escalated_at, overdue, decided_at,"
    " decision_source"
)


def _approval(row: Sequence[Any]) -> ApprovalRow:
    values = list(row)
    values[8] = [Assignee.model_validate(a) for a in json.loads(values[8])]
    values[9] = chain_of(values[9])
    values[20] = snapshot_of(json.loads(values[20]))
    return ApprovalRow(*values)


def insert(conn: Connection, a: ApprovalRow) -> int:
    row = conn.execute(
        "INSERT INTO gov_approvals (run_id, step_id, title, meaning, mode, required,"
        " separation_of_duties, slots, assignees, escalation_level, requested_by,"
        " default_decision, site, area, line, status, version, created_at, due_at, snapshot)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            a.run_id,
            a.step_id,
            a.title,
            a.meaning,
            a.mode,
            a.required,
            a.separation_of_duties,
            json.dumps([s.model_dump(mode="json", exclude_none=True) for s in a.slots]),
            chain_json(a.assignees),
            a.escalation_level,
            a.requested_by,
            a.default_decision,
            a.site,
            a.area,
            a.line,
            a.status,
            a.version,
            a.created_at,
            a.due_at,
            json.dumps(a.snapshot),
        ],
    ).fetchone()
    assert row is not None
    return int(row[0])


def update(conn: Connection, a: ApprovalRow) -> None:
    conn.execute(
        "UPDATE gov_approvals SET escalation_level = ?, status = ?, version = ?, due_at = ?,"
        " reminded_at = ?, escalated_at = ?, overdue = ?, decided_at = ?, decision_source = ?"
        " WHERE id = ?",
        [
            a.escalation_level,
            a.status,
            a.version,
            a.due_at,
            a.reminded_at,
            a.escalated_at,
            a.overdue,
            a.decided_at,
            a.decision_source,
            a.id,
        ],
    )


def get(conn: Connection, approval_id: int) -> ApprovalRow | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM gov_approvals WHERE id = ?", [approval_id]
    ).fetchone()
    return _approval(row) if row else None


def for_run(conn: Connection, run_id: int) -> list[ApprovalRow]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM gov_approvals WHERE run_id = ? ORDER BY id", [run_id]
    ).fetchall()
    return [_approval(row) for row in rows]


def for_step(conn: Connection, run_id: int, step_id: str) -> list[ApprovalRow]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM gov_approvals WHERE run_id = ? AND step_id = ? ORDER BY id",
        [run_id, step_id],
    ).fetchall()
    return [_approval(row) for row in rows]


def listing(
    conn: Connection, scope: Scope | None, statuses: list[str], limit: int
) -> list[ApprovalRow]:
    scope_sql, params = scope.sql() if scope is not None else ("TRUE", {})
    params |= {"statuses": statuses, "limit": limit}
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM gov_approvals WHERE {scope_sql}"
        " AND list_contains($statuses::VARCHAR[], status) ORDER BY id DESC LIMIT $limit",
        params,
    ).fetchall()
    return [_approval(row) for row in rows]


_SIGNATURE_COLUMNS = (
    "id, approval_id, slot, username, full_name, decision, meaning, reason, signed_at, via,"
    " snapshot, evidence_hash, record_hash, audit_seq"
)


def _signature(row: Sequence[Any]) -> SignatureRow:
    values = list(row)
    values[10] = snapshot_of(json.loads(values[10]))
    return SignatureRow(*values)


def insert_signature(conn: Connection, s: SignatureRow) -> int:
    row = conn.execute(
        "INSERT INTO gov_signatures (approval_id, slot, username, full_name, decision, meaning,"
        " reason, signed_at, via, snapshot, evidence_hash, record_hash, audit_seq)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            s.approval_id,
            s.slot,
            s.username,
            s.full_name,
            s.decision,
            s.meaning,
            s.reason,
            s.signed_at,
            s.via,
            json.dumps(s.snapshot),
            s.evidence_hash,
            s.record_hash,
            s.audit_seq,
        ],
    ).fetchone()
    assert row is not None
    return int(row[0])


def signatures(conn: Connection, approval_ids: Sequence[int]) -> list[SignatureRow]:
    if not approval_ids:
        return []
    rows = conn.execute(
        f"SELECT {_SIGNATURE_COLUMNS} FROM gov_signatures"
        " WHERE list_contains($1::BIGINT[], approval_id) ORDER BY id",
        [list(approval_ids)],
    ).fetchall()
    return [_signature(row) for row in rows]
