"""Task rules: only the assignee, a delegate or an escalation target may complete a task;
required tasks cannot be skipped. Every completion, skip and refusal is audited in the same
transaction; a refusal commits its audit record and then raises."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from hub.audit.schemas import user_actor
from hub.auth.schemas import User
from hub.auth.scope import Scope
from hub.errors import Conflict, Forbidden, HubError, NotFound, Unprocessable
from hub.governance import audit, authority, engine, outbound, timers
from hub.governance.authority import Authority
from hub.governance.records import Run, TaskRow
from hub.governance.runtime import Governance
from hub.playbooks import repository as runs
from hub.playbooks.model import TaskStep
from hub.storage import Connection
from hub.tasks import repository
from hub.tasks.schemas import Task

RULE_ASSIGNEE = (
    "rule assignee: only the assignee, a delegate or an escalation target may act on this task"
)
RULE_REQUIRED = "rule required-step: a required task cannot be skipped"

Assigned = Literal["me", "scope"]


def _visible(task: TaskRow, user: User, via: str | None) -> bool:
    return via is not None or Scope.of(user).allows(task.site, task.area)


def _load(
    conn: Connection, task_id: int, user: User, now: datetime
) -> tuple[TaskRow, Run, Authority, str | None]:
    task = repository.get(conn, task_id)
    who = authority.load(conn, user, now)
    via = who.chain(task.assignees, task.escalation_level, task.site, task.area) if task else None
    if task is None or not _visible(task, user, via):
        raise NotFound(f"no task {task_id}")
    run = runs.get_run(conn, task.run_id)
    assert run is not None
    return task, run, who, via


def view(conn: Connection, row: TaskRow, via: str | None) -> Task:
    """The task as the API shows it, with what its playbook step lets a completion report."""
    run = runs.get_run(conn, row.run_id)
    step = engine.playbook_of(conn, run.policy_version).find(row.step_id) if run else None
    return Task.of(row, via, step.reports if isinstance(step, TaskStep) else ())


async def list_tasks(
    governance: Governance, user: User, statuses: list[str], assigned: Assigned, limit: int
) -> list[Task]:
    """Tasks the caller may act on (``me``), or every task in the caller's scope (``scope``)."""
    now = governance.clock()
    await governance.catch_up(now)

    def query(cur: Connection) -> list[Task]:
        who = authority.load(cur, user, now)
        scope = Scope.of(user) if assigned == "scope" else None
        found = []
        for row in repository.listing(cur, scope, statuses, limit if scope else 10 * limit):
            via = who.chain(row.assignees, row.escalation_level, row.site, row.area)
            if assigned == "me" and via is None:
                continue
            found.append(view(cur, row, via))
        return found[:limit]

    return await governance.db.read(query)


async def get_task(governance: Governance, user: User, task_id: int) -> Task:
    now = governance.clock()
    await governance.catch_up(now)

    def query(cur: Connection) -> Task:
        task, _, _, via = _load(cur, task_id, user, now)
        return view(cur, task, via)

    return await governance.db.read(query)


async def complete(
    governance: Governance,
    user: User,
    task_id: int,
    note: str | None,
    *,
    expected_end: datetime | None = None,
) -> Task:
    """Complete a task; with ``expected_end`` (a step that ``reports: [expected_end]``), first
    move the expected end of the run's open reduced/unavailable constraints, so the steps the
    completion opens already decide on it.

    Raises:
    NotFound: no such task the caller can see.
    Conflict: the task is not open.
    Forbidden: the caller is not the assignee, a delegate or an escalation target.
    Unprocessable: an ``expected_end`` the step does not report, not in the future, more than
        a year ahead, or with no open equipment constraint to move (nothing changes).
    """
    now = governance.clock()
    await governance.catch_up(now)
    actor = user_actor(user.username)

    def work(conn: Connection) -> tuple[Task, HubError | None]:
        task, run, _, via = _load(conn, task_id, user, now)
        refusal = _refusal(task, via)
        if refusal is not None:
            _audit_refusal(conn, run, task, actor, "task.complete_refused", refusal, now)
            return Task.of(task, via), refusal
        assert via is not None
        reported: dict[str, Any] = {}
        if expected_end is not None:
            problem = _expected_end_problem(conn, run, task, expected_end, now)
            if problem is not None:
                return Task.of(task, via), Unprocessable(f"expected_end: {problem}")
            moved = outbound.set_expected_end(conn, run, expected_end, actor, now)
            reported = {
                "expected_end": expected_end.isoformat(),
                "constraints": [c.id for c in moved],
            }
        _close(conn, run, task, via, user, actor, "done", note, now, reported)
        return view(conn, task, via), None

    return await _commit_or_raise(governance, work)


async def skip(governance: Governance, user: User, task_id: int, reason: str) -> Task:
    """Skip a task that is not required. Raises as ``complete``; a required task is refused
    (403, audited as a bypass attempt)."""
    now = governance.clock()
    await governance.catch_up(now)
    actor = user_actor(user.username)

    def work(conn: Connection) -> tuple[Task, HubError | None]:
        task, run, _, via = _load(conn, task_id, user, now)
        refusal = _refusal(task, via)
        if refusal is None and task.required:
            refusal = Forbidden(RULE_REQUIRED)
            _audit_refusal(conn, run, task, actor, "task.bypass_refused", refusal, now)
            return Task.of(task, via), refusal
        if refusal is not None:
            _audit_refusal(conn, run, task, actor, "task.skip_refused", refusal, now)
            return Task.of(task, via), refusal
        assert via is not None
        _close(conn, run, task, via, user, actor, "skipped", reason, now)
        return Task.of(task, via), None

    return await _commit_or_raise(governance, work)


MAX_EXPECTED_END = timedelta(days=366)


def _expected_end_problem(
    conn: Connection, run: Run, task: TaskRow, expected_end: datetime, now: datetime
) -> str | None:
    step = engine.playbook_of(conn, run.policy_version).find(task.step_id)
    if not isinstance(step, TaskStep) or "expected_end" not in step.reports:
        return f"step {task.step_id!r} does not report one (its playbook step has no reports)"
    if expected_end <= now:
        return "must be in the future"
    if expected_end > now + MAX_EXPECTED_END:
        return "must be at most a year ahead"
    if not outbound.open_equipment_constraints(conn, run):
        return "the run has no open reduced or unavailable constraint whose end it could move"
    return None


_CLOSING = {"done": ("task.completed", "completed"), "skipped": ("task.skipped", "skipped")}
"""status -> (audit action, how the step finished)."""


def _close(
    conn: Connection,
    run: Run,
    task: TaskRow,
    via: str,
    user: User,
    actor: str,
    status: str,
    note: str | None,
    now: datetime,
    reported: dict[str, Any] | None = None,
) -> None:
    """Close an open task as done or skipped: store, stop its timers, audit (with what was
    ``reported``), finish its step."""
    action, how = _CLOSING[status]
    task.status, task.completed_at, task.completed_by, task.note = status, now, user.username, note
    repository.update(conn, task)
    timers.cancel(conn, "task", task.id, now)
    audit.record(
        conn,
        now,
        actor=actor,
        action=action,
        object_type="task",
        object_id=task.id,
        run=run,
        before={"status": "open"},
        after={"status": status},
        reason=note,
        data={"via": via, "step_id": task.step_id, **(reported or {})},
    )
    engine.finish_step(conn, run, task.step_id, status, how, now)


def _refusal(task: TaskRow, via: str | None) -> HubError | None:
    if task.status != "open":
        return Conflict(f"the task is {task.status}")
    if via is None:
        return Forbidden(RULE_ASSIGNEE)
    return None


def _audit_refusal(
    conn: Connection,
    run: Run,
    task: TaskRow,
    actor: str,
    action: str,
    refusal: HubError,
    now: datetime,
) -> None:
    audit.record(
        conn,
        now,
        actor=actor,
        action=action,
        object_type="task",
        object_id=task.id,
        run=run,
        reason=refusal.message,
        data={"status_code": refusal.status_code, "step_id": task.step_id},
    )


async def _commit_or_raise(
    governance: Governance, work: Callable[[Connection], tuple[Task, HubError | None]]
) -> Task:
    task, refusal = await governance.db.write(work)
    if refusal is not None:
        raise refusal
    return task
