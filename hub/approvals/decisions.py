"""Approval state changes inside a write transaction: a signature, and the conclusion (by
signatures or by the playbook's default after the last timeout), with its actions."""

from __future__ import annotations

from datetime import datetime

from hub.approvals import repository
from hub.governance import audit, engine, outbound, timers
from hub.governance.actions import run_actions
from hub.governance.records import ApprovalRow, Run, SignatureRow
from hub.playbooks import repository as runs
from hub.playbooks.model import ApprovalStep
from hub.storage import Connection


def open_slots(approval: ApprovalRow, signatures: list[SignatureRow]) -> list[int]:
    """Slots a signature may still fill: sequential, the first not approved; all-of, every one
    not approved; single and any-of, every slot."""
    approved = {s.slot for s in signatures if s.decision == "approve"}
    remaining = [i for i in range(len(approval.slots)) if i not in approved]
    if approval.mode == "sequential":
        return remaining[:1]
    if approval.mode == "all_of":
        return remaining
    return list(range(len(approval.slots)))


def outcome_after(approval: ApprovalRow, signatures: list[SignatureRow]) -> str | None:
    """``approved`` / ``rejected`` once the signatures settle it, else None."""
    if any(s.decision == "reject" for s in signatures):
        return "rejected"
    approved = {s.slot for s in signatures if s.decision == "approve"}
    if approval.mode in ("single", "any_of"):
        return "approved" if approved else None
    return "approved" if approved >= set(range(len(approval.slots))) else None


def step_of(conn: Connection, run: Run, approval: ApprovalRow) -> ApprovalStep:
    step = engine.playbook_of(conn, run.policy_version).find(approval.step_id)
    assert isinstance(step, ApprovalStep)
    return step


def conclude(
    conn: Connection,
    run: Run,
    approval: ApprovalRow,
    status: str,
    source: str,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Settle the approval, run its decision's actions and move the run on."""
    before = {"status": approval.status, "version": approval.version}
    approval.status, approval.decided_at, approval.decision_source = status, now, source
    approval.version += 1
    repository.update(conn, approval)
    timers.cancel(conn, "approval", approval.id, now)
    if run.first_decision_at is None:
        run.first_decision_at = now
        runs.update_run(conn, run)
    audit.record(
        conn,
        now,
        actor=actor,
        action=f"approval.{status}",
        object_type="approval",
        object_id=approval.id,
        run=run,
        before=before,
        after={"status": status, "version": approval.version, "source": source},
        reason=reason,
    )
    step = step_of(conn, run, approval)
    decision = "approve" if status == "approved" else "reject"
    actions = step.on_approve if status == "approved" else step.on_reject
    run_actions(conn, run, step.id, approval.id, decision, actions, actor, now)
    outbound.announce_decision(conn, run, approval, source, now)
    engine.finish_step(conn, run, approval.step_id, "done", status, now)
