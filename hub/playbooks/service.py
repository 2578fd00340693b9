"""Playbook and run rules: list and reload playbooks, start a run by hand, show a run's chain,
and resolve it (refused, and audited as a bypass, while a required step is open)."""

from __future__ import annotations

from datetime import datetime

from floorgate.configfile import ConfigError
from hub.approvals import decisions
from hub.approvals import repository as approvals
from hub.approvals.schemas import Approval
from hub.audit.schemas import user_actor
from hub.auth.schemas import User
from hub.auth.scope import Scope
from hub.errors import Conflict, Forbidden, HubError, NotFound, Unprocessable
from hub.governance import audit, authority, engine, outbound, timers
from hub.governance import repository as governance_repository
from hub.governance.records import Run
from hub.governance.runtime import Governance
from hub.playbooks import repository
from hub.playbooks.schemas import (
    Outcome,
    PlaybookInfo,
    ResolveRequest,
    RunAction,
    RunDetail,
    RunStep,
    RunSummary,
    StartRunRequest,
)
from hub.storage import Connection
from hub.tasks import repository as tasks
from hub.tasks.service import view as task_view

RULE_REQUIRED = "rule required-step: a required step is still open"


def list_playbooks(governance: Governance) -> list[PlaybookInfo]:
    return [
        PlaybookInfo(
            id=item.playbook.id,
            name=item.playbook.name,
            description=item.playbook.description,
            enabled=item.playbook.enabled,
            version=item.version,
            file=item.file,
            steps=[step.id for step in item.playbook.steps],
        )
        for item in governance.playbooks.values()
    ]


async def reload(governance: Governance, user: User) -> list[PlaybookInfo]:
    """Raises Unprocessable (naming file and key path) if any file is invalid; nothing changes."""
    try:
        await governance.load(user_actor(user.username))
    except ConfigError as exc:
        raise Unprocessable(str(exc)) from exc
    return list_playbooks(governance)


def _summary(run: Run) -> RunSummary:
    return RunSummary(
        id=run.id,
        playbook_id=run.playbook_id,
        policy_version=run.policy_version,
        trigger=run.trigger,
        status=run.status,
        alarm_id=run.alarm_id,
        agent_id=run.agent_id,
        rule=run.rule,
        site=run.site,
        area=run.area,
        line=run.line,
        recurrences=run.recurrences,
        occurred_at=run.occurred_at,
        created_at=run.created_at,
        resolved_at=run.resolved_at,
    )


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if end is not None else None


def _detail(conn: Connection, run: Run, user: User, now: datetime) -> RunDetail:
    who = authority.load(conn, user, now)
    task_views = [
        task_view(conn, t, who.chain(t.assignees, t.escalation_level, t.site, t.area))
        for t in tasks.for_run(conn, run.id)
    ]
    rows = approvals.for_run(conn, run.id)
    signatures = approvals.signatures(conn, [a.id for a in rows])
    approval_views = []
    for a in rows:
        signed = [s for s in signatures if s.approval_id == a.id]
        approval_views.append(Approval.of(a, signed, decisions.open_slots(a, signed), None))
    acked_at = repository.alarm_acked_at(conn, run.alarm_id) if run.alarm_id else None
    return RunDetail(
        **_summary(run).model_dump(),
        tag=run.tag,
        severity=run.severity,
        category=run.category,
        requested_by=run.requested_by,
        reason=run.reason,
        context=run.context,
        steps=[RunStep(**vars(s)) for s in repository.steps(conn, run.id).values()],
        tasks=task_views,
        approvals=approval_views,
        actions=[
            RunAction(**{k: v for k, v in vars(a).items() if k not in ("run_id", "extra")})
            for a in governance_repository.actions_for_run(conn, run.id)
        ],
        constraints=outbound.constraints_of(conn, run.id),
        outcome=Outcome(
            status=run.status,
            resolution_code=run.resolution_code,
            resolved_by=run.resolved_by,
            resolved_at=run.resolved_at,
            note=run.resolution_note,
            seconds_to_acknowledge=_seconds(run.occurred_at, acked_at),
            seconds_to_notify_all=_seconds(run.occurred_at, run.all_notified_at),
            seconds_to_decide=_seconds(run.occurred_at, run.first_decision_at),
            seconds_to_resolve=_seconds(run.occurred_at, run.resolved_at),
        ),
    )


def _in_scope(conn: Connection, run_id: int, user: User) -> Run:
    run = repository.get_run(conn, run_id)
    if run is None or not Scope.of(user).allows(run.site, run.area):
        raise NotFound(f"no run {run_id}")
    return run


async def get_run(governance: Governance, user: User, run_id: int) -> RunDetail:
    now = governance.clock()
    await governance.catch_up(now)
    return await governance.db.read(
        lambda cur: _detail(cur, _in_scope(cur, run_id, user), user, now)
    )


async def list_runs(
    governance: Governance, user: User, status: str | None, before: int | None, limit: int
) -> list[RunSummary]:
    await governance.catch_up()
    rows = await governance.db.read(
        lambda cur: repository.list_runs(cur, Scope.of(user), status, before, limit)
    )
    return [_summary(run) for run in rows]


async def start_run(governance: Governance, user: User, body: StartRunRequest) -> RunDetail:
    """Raises NotFound (no such playbook), Forbidden (the location is outside the caller's
    scope)."""
    loaded = governance.playbooks.get(body.playbook_id)
    if loaded is None or not loaded.playbook.enabled:
        raise NotFound(f"no enabled playbook {body.playbook_id!r}")
    if not Scope.of(user).allows(body.site, body.area):
        raise Forbidden("the site or area is outside your scope")
    now = governance.clock()
    run = Run(
        id=0,
        playbook_id=loaded.playbook.id,
        policy_version=loaded.version,
        trigger="manual",
        alarm_id=None,
        agent_id=body.agent_id,
        rule=None,
        tag=None,
        severity=None,
        category=None,
        site=body.site,
        area=body.area,
        line=body.line,
        requested_by=user.username,
        reason=body.reason,
        context={},
        status="open",
        recurrences=0,
        occurred_at=now,
        created_at=now,
    )

    def work(conn: Connection) -> RunDetail:
        engine.start_run(conn, run, user_actor(user.username), now)
        return _detail(conn, run, user, now)

    return await governance.db.write(work)


async def resolve(
    governance: Governance, user: User, run_id: int, body: ResolveRequest
) -> RunDetail:
    """Record the outcome. Open steps that are not required are cancelled; an open required
    step refuses the resolution (403, audited as a bypass attempt).

    Raises:
        NotFound, Conflict (already resolved), Forbidden (required step open).
    """
    now = governance.clock()
    await governance.catch_up(now)
    actor = user_actor(user.username)

    def work(conn: Connection) -> tuple[RunDetail | None, HubError | None]:
        run = _in_scope(conn, run_id, user)
        if run.status == "resolved":
            return None, Conflict("the run is already resolved")
        states = repository.steps(conn, run.id)
        open_required = [
            s.step_id
            for s in states.values()
            if s.status == "active" and s.required and s.kind != "parallel"
        ]
        playbook = engine.playbook_of(conn, run.policy_version)
        never_opened = [
            s.id
            for s in playbook.leaf_steps()
            if s.id not in states and getattr(s, "required", True)
        ]
        if open_required or never_opened:
            error = Forbidden(f"{RULE_REQUIRED}: {', '.join(open_required + never_opened)}")
            audit.record(
                conn,
                now,
                actor=actor,
                action="run.bypass_refused",
                object_type="run",
                object_id=run.id,
                run=run,
                reason=error.message,
                data={
                    "resolution_code": body.resolution_code,
                    "open_required": open_required,
                    "not_started": never_opened,
                },
            )
            return None, error
        _cancel_open(conn, run, actor, now)
        before = {"status": run.status}
        run.status, run.resolved_at, run.resolved_by = "resolved", now, user.username
        run.resolution_code, run.resolution_note = body.resolution_code, body.note
        repository.update_run(conn, run)
        ended = outbound.end_constraints(conn, run, actor, now)
        audit.record(
            conn,
            now,
            actor=actor,
            action="run.resolved",
            object_type="run",
            object_id=run.id,
            run=run,
            before=before,
            after={"status": "resolved"},
            reason=body.note,
            data={"resolution_code": body.resolution_code, "constraints_ended": ended},
        )
        outbound.announce_resolution(conn, run, now)
        return _detail(conn, run, user, now), None

    view, refusal = await governance.db.write(work)
    if refusal is not None:
        raise refusal
    assert view is not None
    return view


def _cancel_open(conn: Connection, run: Run, actor: str, now: datetime) -> None:
    for task in tasks.for_run(conn, run.id):
        if task.status == "open":
            task.status = "cancelled"
            tasks.update(conn, task)
            timers.cancel(conn, "task", task.id, now)
            audit.record(
                conn,
                now,
                actor=actor,
                action="task.cancelled",
                object_type="task",
                object_id=task.id,
                run=run,
                before={"status": "open"},
                after={"status": "cancelled"},
                reason="run resolved",
            )
    for approval in approvals.for_run(conn, run.id):
        if approval.status == "pending":
            approval.status = "cancelled"
            approval.version += 1
            approvals.update(conn, approval)
            timers.cancel(conn, "approval", approval.id, now)
            audit.record(
                conn,
                now,
                actor=actor,
                action="approval.cancelled",
                object_type="approval",
                object_id=approval.id,
                run=run,
                before={"status": "pending"},
                after={"status": "cancelled"},
                reason="run resolved",
            )
    for state in repository.steps(conn, run.id).values():
        if state.status == "active":
            state.status, state.finished_at = "cancelled", now
            repository.update_step(conn, state)
