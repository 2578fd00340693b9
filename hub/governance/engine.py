"""The run engine: a run walks its pinned playbook's steps in order; each step opens its items
(tasks, approvals) or acts at once (constraints); a ``parallel`` step opens all of its steps and
finishes when they all have. A step with a ``when:`` that does not hold when the run reaches it
is recorded as ``not_applicable`` (audited with the facts it was decided on) and the run moves
on. Everything here runs inside the caller's write transaction.

A run executes the definition stored under its ``policy_version`` (the sha256 of the file it
was started from), never the file as it is now.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from hub.approvals import repository as approvals
from hub.audit.schemas import SYSTEM_ACTOR
from hub.governance import audit, snapshot, timers
from hub.governance.actions import run_actions
from hub.governance.assignees import labels
from hub.governance.facts import gather
from hub.governance.records import ApprovalRow, Run, StepState, TaskRow
from hub.playbooks import conditions
from hub.playbooks import repository as runs
from hub.playbooks.model import (
    ApprovalStep,
    ConstraintStep,
    ParallelStep,
    Playbook,
    TaskStep,
)
from hub.storage import Connection
from hub.tasks import repository as tasks

_DEFINITIONS: dict[str, Playbook] = {}
"""Parsed definitions by version: a version's text never changes, so this never goes stale."""
_FINISHED = ("done", "skipped", "cancelled", "not_applicable")


class PolicyMissing(RuntimeError):
    """A run names a policy version the database does not hold (the file was never stored)."""


def playbook_of(conn: Connection, version: str) -> Playbook:
    found = _DEFINITIONS.get(version)
    if found is None:
        text = runs.definition(conn, version)
        if text is None:
            raise PolicyMissing(f"no playbook version {version}")
        found = Playbook.model_validate(json.loads(text))
        if len(_DEFINITIONS) > 1000:
            _DEFINITIONS.clear()
        _DEFINITIONS[version] = found
    return found


def start_run(conn: Connection, run: Run, actor: str, now: datetime) -> Run:
    """Store ``run`` (its id is assigned), audit it, and open its first steps."""
    run.id = runs.insert_run(conn, run)
    audit.record(
        conn,
        now,
        actor=actor,
        action="run.started",
        object_type="run",
        object_id=run.id,
        run=run,
        after={"status": run.status},
        reason=run.reason,
        data={
            "playbook_id": run.playbook_id,
            "policy_version": run.policy_version,
            "trigger": run.trigger,
            "alarm_id": run.alarm_id,
            "agent_id": run.agent_id,
            "rule": run.rule,
            "requested_by": run.requested_by,
        },
    )
    advance(conn, run, now)
    return run


def advance(conn: Connection, run: Run, now: datetime) -> None:
    """Open every step that may open now; mark the run ``steps_done`` after the last one."""
    if run.status != "open":
        return
    playbook = playbook_of(conn, run.policy_version)
    opened = False
    for step in playbook.steps:
        states = runs.steps(conn, run.id)
        state = states.get(step.id)
        if state is None:
            state = _open(conn, run, playbook, step, None, now)
            opened = True
            states = runs.steps(conn, run.id)
        if state.status == "active" and isinstance(step, ParallelStep):
            children = [states.get(child.id) for child in step.steps]
            if all(c is not None and c.status in _FINISHED for c in children):
                _finish(conn, state, "done", None, now)
        if state.status == "active":
            break
    else:
        run.status, run.steps_done_at = "steps_done", now
        runs.update_run(conn, run)
        audit.record(
            conn,
            now,
            actor=SYSTEM_ACTOR,
            action="run.steps_done",
            object_type="run",
            object_id=run.id,
            run=run,
            before={"status": "open"},
            after={"status": "steps_done"},
        )
    if opened and run.all_notified_at is None:
        run.all_notified_at = now
        runs.update_run(conn, run)


def finish_step(
    conn: Connection, run: Run, step_id: str, status: str, outcome: str | None, now: datetime
) -> None:
    """An item of ``step_id`` has finished: close its step, then let the run move on."""
    state = runs.steps(conn, run.id).get(step_id)
    if state is None or state.status != "active":
        return
    _finish(conn, state, status, outcome, now)
    advance(conn, run, now)


def _finish(
    conn: Connection, state: StepState, status: str, outcome: str | None, now: datetime
) -> None:
    state.status, state.outcome, state.finished_at = status, outcome, now
    runs.update_step(conn, state)


def _open(
    conn: Connection,
    run: Run,
    playbook: Playbook,
    step: TaskStep | ApprovalStep | ConstraintStep | ParallelStep,
    parent: str | None,
    now: datetime,
) -> StepState:
    required = isinstance(step, ParallelStep) or getattr(step, "required", True)
    passed_over = _passed_over(conn, run, step, now)
    if passed_over is not None:
        return _not_applicable(conn, run, step, parent, required, passed_over, now)
    state = StepState(run.id, step.id, parent, step.kind, required, "active", None, now)
    runs.insert_step(conn, state)
    if isinstance(step, ParallelStep):
        for child in step.steps:
            _open(conn, run, playbook, child, step.id, now)
    elif isinstance(step, TaskStep):
        open_task(conn, run, step, now)
    elif isinstance(step, ApprovalStep):
        open_approval(conn, run, playbook, step, now)
    else:
        _post_constraint(conn, run, step, now)
        _finish(conn, state, "done", "posted", now)
    return state


def _passed_over(
    conn: Connection,
    run: Run,
    step: TaskStep | ApprovalStep | ConstraintStep | ParallelStep,
    now: datetime,
) -> str | None:
    """None if the step opens; else why not (its ``when`` is false, or unknown with skip)."""
    if not step.when:
        return None
    facts = gather(conn, run, conditions.named_facts(step.when), now)
    verdict = conditions.verdict(step.when, facts)
    opens = verdict == "true" or (verdict == "unknown" and step.when_unknown == "run")
    audit.record(
        conn,
        now,
        actor=SYSTEM_ACTOR,
        action="step.condition",
        object_type="run",
        object_id=run.id,
        run=run,
        data={
            "step_id": step.id,
            "when": list(step.when),
            "facts": {k: v.isoformat() if isinstance(v, datetime) else v for k, v in facts.items()},
            "verdict": verdict,
            "opened": opens,
        },
    )
    return None if opens else f"when {' and '.join(step.when)}: {verdict}"


def _not_applicable(
    conn: Connection,
    run: Run,
    step: TaskStep | ApprovalStep | ConstraintStep | ParallelStep,
    parent: str | None,
    required: bool,
    why: str,
    now: datetime,
) -> StepState:
    state = StepState(run.id, step.id, parent, step.kind, required, "not_applicable", why, now, now)
    runs.insert_step(conn, state)
    if isinstance(step, ParallelStep):
        # Its steps never open either; recorded so the run's chain (and resolve) sees them.
        for child in step.steps:
            runs.insert_step(
                conn,
                StepState(
                    run.id,
                    child.id,
                    step.id,
                    child.kind,
                    getattr(child, "required", True),
                    "not_applicable",
                    f"in {step.id}: {why}",
                    now,
                    now,
                ),
            )
    return state


def _due(step: TaskStep | ApprovalStep, now: datetime) -> datetime | None:
    return now + timedelta(seconds=step.due) if step.due is not None else None


def open_task(conn: Connection, run: Run, step: TaskStep, now: datetime) -> TaskRow:
    chain = [[step.assignee], *([entry] for entry in step.escalate_to)]
    task = TaskRow(
        id=0,
        run_id=run.id,
        step_id=step.id,
        title=step.title,
        instructions=step.instructions,
        required=step.required,
        assignees=chain,
        escalation_level=0,
        site=run.site,
        area=run.area,
        line=run.line,
        status="open",
        created_at=now,
        due_at=_due(step, now),
    )
    task.id = tasks.insert(conn, task)
    timers.schedule(conn, "task", task.id, step, 0, task.due_at, now)
    audit.record(
        conn,
        now,
        actor=SYSTEM_ACTOR,
        action="task.opened",
        object_type="task",
        object_id=task.id,
        run=run,
        after={"status": "open", "assignees": labels(chain, 0)},
        data={
            "step_id": step.id,
            "title": step.title,
            "required": step.required,
            "due_at": task.due_at.isoformat() if task.due_at else None,
        },
    )
    return task


def requester_of(conn: Connection, run: Run) -> str | None:
    """Who asks for an approval: the person who started the run, else whoever completed the
    run's latest task (separation of duties keeps them from signing it)."""
    if run.requested_by is not None:
        return run.requested_by
    done = [
        (t.completed_at, t.id, t.completed_by)
        for t in tasks.for_run(conn, run.id)
        if t.status == "done" and t.completed_at is not None
    ]
    return max(done)[2] if done else None


def open_approval(
    conn: Connection, run: Run, playbook: Playbook, step: ApprovalStep, now: datetime
) -> ApprovalRow:
    taken = snapshot.take(conn, run, playbook.snapshot, now)
    approval = ApprovalRow(
        id=0,
        run_id=run.id,
        step_id=step.id,
        title=step.title,
        meaning=step.meaning,
        mode=step.mode,
        required=step.required,
        separation_of_duties=step.separation_of_duties,
        slots=list(step.approvers),
        assignees=[[], *([entry] for entry in step.escalate_to)],
        escalation_level=0,
        requested_by=requester_of(conn, run),
        default_decision=step.default_decision,
        site=run.site,
        area=run.area,
        line=run.line,
        status="pending",
        version=1,
        created_at=now,
        due_at=_due(step, now),
        snapshot=taken,
    )
    approval.id = approvals.insert(conn, approval)
    timers.schedule(conn, "approval", approval.id, step, 0, approval.due_at, now)
    audit.record(
        conn,
        now,
        actor=SYSTEM_ACTOR,
        action="approval.opened",
        object_type="approval",
        object_id=approval.id,
        run=run,
        after={"status": "pending", "version": 1},
        data={
            "step_id": step.id,
            "title": step.title,
            "mode": step.mode,
            "approvers": [a.label() for a in step.approvers],
            "requested_by": approval.requested_by,
            "due_at": approval.due_at.isoformat() if approval.due_at else None,
            "snapshot": taken,
        },
    )
    return approval


def _post_constraint(conn: Connection, run: Run, step: ConstraintStep, now: datetime) -> None:
    run_actions(conn, run, step.id, None, None, [step.action()], SYSTEM_ACTOR, now)
