"""Approval rules: an electronic signature decides (password again, 401 if wrong); only an
approver, a delegate or an escalation target may sign (403); separation of duties: the
requester cannot sign and one person cannot sign two entries of one approval (403). Every
signature and every refusal is audited; a signature's record hash is in its audit record."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from hub.approvals import decisions, repository
from hub.approvals.schemas import Approval
from hub.approvals.signature import evidence_hash, record_hash, signed_record
from hub.audit.schemas import user_actor
from hub.auth import repository as users
from hub.auth.credentials import dummy_password_hash, verify_password
from hub.auth.schemas import User
from hub.auth.scope import Scope
from hub.errors import Conflict, Forbidden, HubError, NotFound, Unauthorized
from hub.governance import audit, authority, engine, snapshot
from hub.governance import repository as governance_repository
from hub.governance.assignees import ESCALATION
from hub.governance.authority import Authority
from hub.governance.records import ApprovalRow, Run, SignatureRow
from hub.governance.runtime import Governance
from hub.playbooks import repository as runs
from hub.storage import Connection

RULE_ASSIGNEE = (
    "rule assignee: only an approver, a delegate or an escalation target may sign this approval"
)
RULE_REQUESTER = "rule separation-of-duties: whoever raised or requested cannot sign it"
RULE_TWICE = "rule separation-of-duties: one person cannot sign two steps of one approval"
RULE_PASSWORD = "rule re-authentication: the password does not match"


def _eligibility(
    approval: ApprovalRow, signatures: list[SignatureRow], who: Authority
) -> tuple[int | None, str | None]:
    """(slot, how) the caller may sign now, or (None, None)."""
    slots = decisions.open_slots(approval, signatures)
    for slot in slots:
        how = who.entry(approval.slots[slot], approval.site, approval.area)
        if how is not None:
            return slot, how
    if slots and who.chain(
        approval.assignees, approval.escalation_level, approval.site, approval.area
    ):
        return slots[0], ESCALATION
    return None, None


def _sod(approval: ApprovalRow, signatures: list[SignatureRow], username: str) -> str | None:
    if not approval.separation_of_duties:
        return None
    if approval.requested_by == username:
        return RULE_REQUESTER
    if any(s.username == username for s in signatures):
        return RULE_TWICE
    return None


def _view(approval: ApprovalRow, signatures: list[SignatureRow], who: Authority) -> Approval:
    slot, how = _eligibility(approval, signatures, who)
    if slot is not None and _sod(approval, signatures, who.user.username) is not None:
        how = None
    return Approval.of(approval, signatures, decisions.open_slots(approval, signatures), how)


def _load(
    conn: Connection, approval_id: int, user: User, now: datetime
) -> tuple[ApprovalRow, list[SignatureRow], Run, Authority]:
    approval = repository.get(conn, approval_id)
    who = authority.load(conn, user, now)
    if approval is None:
        raise NotFound(f"no approval {approval_id}")
    signatures = repository.signatures(conn, [approval.id])
    slot, _ = _eligibility(approval, signatures, who)
    if slot is None and not Scope.of(user).allows(approval.site, approval.area):
        raise NotFound(f"no approval {approval_id}")
    run = runs.get_run(conn, approval.run_id)
    assert run is not None
    return approval, signatures, run, who


async def list_approvals(
    governance: Governance, user: User, statuses: list[str], assigned: str, limit: int
) -> list[Approval]:
    """Approvals the caller may sign now (``me``), or every one in the caller's scope."""
    now = governance.clock()
    await governance.catch_up(now)

    def query(cur: Connection) -> list[Approval]:
        who = authority.load(cur, user, now)
        scope = Scope.of(user) if assigned == "scope" else None
        rows = repository.listing(cur, scope, statuses, limit if scope else 10 * limit)
        by_id: dict[int, list[SignatureRow]] = {row.id: [] for row in rows}
        for s in repository.signatures(cur, list(by_id)):
            by_id[s.approval_id].append(s)
        found = []
        for row in rows:
            view = _view(row, by_id[row.id], who)
            if assigned == "me" and not view.can_sign:
                continue
            found.append(view)
        return found[:limit]

    return await governance.db.read(query)


async def get_approval(governance: Governance, user: User, approval_id: int) -> Approval:
    now = governance.clock()
    await governance.catch_up(now)

    def query(cur: Connection) -> Approval:
        approval, signatures, _, who = _load(cur, approval_id, user, now)
        return _view(approval, signatures, who)

    return await governance.db.read(query)


async def decide(
    governance: Governance,
    user: User,
    approval_id: int,
    *,
    decision: str,
    reason: str,
    password: str,
) -> Approval:
    """Sign ``decision`` on an approval.

    Raises:
        NotFound: no such approval the caller can see.
        Unauthorized: the password is wrong (audited).
        Conflict: the approval is no longer pending (audited).
        Forbidden: not an approver / delegate / escalation target, or separation of duties
            (audited, with the rule named).
    """
    now = governance.clock()
    await governance.catch_up(now)
    actor = user_actor(user.username)
    db = governance.db

    row = await db.read(lambda cur: users.get_user(cur, user.username))
    stored = row.password_hash if row is not None else dummy_password_hash()
    # scrypt takes tens of milliseconds of CPU: keep it off the event loop.
    password_ok = row is not None and await asyncio.to_thread(verify_password, password, stored)

    def work(conn: Connection) -> tuple[Approval | None, HubError | None]:
        approval, signatures, run, who = _load(conn, approval_id, user, now)

        def refuse(error: HubError) -> tuple[Approval | None, HubError | None]:
            audit.record(
                conn,
                now,
                actor=actor,
                action="approval.signature_refused",
                object_type="approval",
                object_id=approval.id,
                run=run,
                reason=error.message,
                data={
                    "status_code": error.status_code,
                    "decision": decision,
                    "version": approval.version,
                },
            )
            return None, error

        if not password_ok:
            return refuse(Unauthorized(RULE_PASSWORD))
        if approval.status != "pending":
            return refuse(Conflict(f"the approval is {approval.status}"))
        slot, how = _eligibility(approval, signatures, who)
        if slot is None or how is None:
            return refuse(Forbidden(RULE_ASSIGNEE))
        sod = _sod(approval, signatures, user.username)
        if sod is not None:
            return refuse(Forbidden(sod))
        signature = _sign(conn, run, approval, slot, how, user, decision, reason, now)
        signatures.append(signature)
        outcome = decisions.outcome_after(approval, signatures)
        if outcome is None:
            approval.version += 1
            repository.update(conn, approval)
        else:
            decisions.conclude(conn, run, approval, outcome, "signature", actor, now)
        return _view(approval, signatures, who), None

    view, refusal = await db.write(work)
    if refusal is not None:
        raise refusal
    assert view is not None
    return view


def _sign(
    conn: Connection,
    run: Run,
    approval: ApprovalRow,
    slot: int,
    via: str,
    user: User,
    decision: str,
    reason: str,
    now: datetime,
) -> SignatureRow:
    playbook = engine.playbook_of(conn, run.policy_version)
    taken = snapshot.take(conn, run, playbook.snapshot, now)
    full_name = governance_repository.full_name(conn, user.username) or user.username
    meaning = approval.meaning if decision == "approve" else f"rejected: {approval.title}"
    signed: dict[str, Any] = {
        "approval_id": approval.id,
        "version": approval.version,
        "run_id": run.id,
        "policy_version": run.policy_version,
        "step_id": approval.step_id,
        "title": approval.title,
        "meaning": approval.meaning,
        "mode": approval.mode,
        "approvers": [s.label() for s in approval.slots],
        "snapshot_at_open": approval.snapshot,
    }
    evidence = evidence_hash(signed, taken)
    record = signed_record(
        approval_id=approval.id,
        approval_version=approval.version,
        slot=slot,
        username=user.username,
        full_name=full_name,
        decision=decision,
        meaning=meaning,
        reason=reason,
        signed_at=now,
        evidence=evidence,
    )
    digest = record_hash(record)
    written = audit.record(
        conn,
        now,
        actor=user_actor(user.username),
        action="approval.signed",
        object_type="approval",
        object_id=approval.id,
        run=run,
        before={"status": approval.status, "version": approval.version},
        after={"signature": decision, "slot": slot},
        reason=reason,
        data={
            "signature": record,
            "record_hash": digest,
            "via": via,
            "snapshot": taken,
            "oldest_age_seconds": snapshot.oldest_age(taken),
        },
    )
    signature = SignatureRow(
        id=0,
        approval_id=approval.id,
        slot=slot,
        username=user.username,
        full_name=full_name,
        decision=decision,
        meaning=meaning,
        reason=reason,
        signed_at=now,
        via=via,
        snapshot=taken,
        evidence_hash=evidence,
        record_hash=digest,
        audit_seq=written.seq,
    )
    signature.id = repository.insert_signature(conn, signature)
    return signature
