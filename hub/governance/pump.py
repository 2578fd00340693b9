"""The governance pump: turns new alarm raises and recommendations into runs, copies agents'
answers to actions, and fires due SLA timers. It runs from the lifespan loop, once before the
hub serves (catching up on what came due while it was down), and before every inbox read and
decision.

Exactly once, across restarts: each trigger cursor moves in the transaction that starts the
runs, and a timer is claimed (``fired_at`` set) in the transaction that applies its effect.

A recommendation that no enabled playbook matches, or that expired before the pump reached it,
starts no run: the sender hears ``recommendation.ignored`` (webhook) with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from hub.approvals import decisions
from hub.approvals import repository as approvals
from hub.audit.schemas import SYSTEM_ACTOR, agent_actor
from hub.external import service as external
from hub.external.schemas import FeedEvent
from hub.governance import actions, audit, engine, outbound, repository, snapshot, timers
from hub.governance.assignees import labels
from hub.governance.records import ApprovalRow, Run, TaskRow, Timer
from hub.playbooks import repository as runs
from hub.playbooks.loader import LoadedPlaybook
from hub.playbooks.match import Trigger, matches
from hub.playbooks.model import ApprovalStep, TaskStep
from hub.storage import Connection, Database
from hub.tasks import repository as tasks
from hub.webhooks import service as webhooks

logger = logging.getLogger(__name__)

TRIGGER_BATCH = 500
TIMER_BATCH = 100


async def scan_triggers(
    db: Database, playbooks: Mapping[str, LoadedPlaybook], now: datetime
) -> int:
    """Start runs for alarm raises committed since the last scan; returns runs started."""
    return await _catch_up(
        db,
        lambda cur: runs.cursor(cur) < runs.last_raise(cur),
        lambda conn: _scan(conn, playbooks, now),
    )


def _scan(
    conn: Connection, playbooks: Mapping[str, LoadedPlaybook], now: datetime
) -> tuple[int, bool]:
    raises = runs.raises_after(conn, runs.cursor(conn), TRIGGER_BATCH)
    started = 0
    for transition_id, alarm_id, trigger, raised_at, value in raises:
        agent_id = trigger.agent_id
        assert agent_id is not None  # an alarm always comes from an agent
        for loaded in playbooks.values():
            playbook = loaded.playbook
            if not playbook.enabled or not matches(playbook.match, trigger):
                continue
            # One open run per playbook and alarm: a repeat raise counts as a recurrence.
            open_run = runs.open_run_for(conn, playbook.id, agent_id, trigger.rule)
            if open_run is not None:
                open_run.recurrences += 1
                runs.update_run(conn, open_run)
                continue
            run = Run(
                id=0,
                playbook_id=playbook.id,
                policy_version=loaded.version,
                trigger="alarm",
                alarm_id=alarm_id,
                agent_id=trigger.agent_id,
                rule=trigger.rule,
                tag=trigger.tag,
                severity=trigger.severity,
                category=trigger.category,
                site=trigger.site,
                area=trigger.area,
                line=trigger.line,
                requested_by=None,
                reason=None,
                context={"value": value},
                status="open",
                recurrences=0,
                occurred_at=raised_at,
                created_at=now,
            )
            engine.start_run(conn, run, agent_actor(agent_id), now)
            started += 1
        runs.move_cursor(conn, transition_id)
    return started, len(raises) == TRIGGER_BATCH


async def scan_recommendations(
    db: Database, playbooks: Mapping[str, LoadedPlaybook], now: datetime
) -> int:
    """Start runs for recommendations received since the last scan; returns runs started."""
    return await _catch_up(
        db,
        lambda cur: runs.cursor(cur, runs.FEED_CURSOR) < external.last_feed_event(cur),
        lambda conn: _scan_feed(conn, playbooks, now),
    )


async def _catch_up(
    db: Database,
    behind: Callable[[Connection], bool],
    scan: Callable[[Connection], tuple[int, bool]],
) -> int:
    """Run ``scan`` (one write transaction per batch) while ``behind`` says its cursor trails
    what has arrived; returns the runs started."""
    started = 0
    while await db.read(behind):
        count, more = await db.write(scan)
        started += count
        if not more:
            break
    return started


def _scan_feed(
    conn: Connection, playbooks: Mapping[str, LoadedPlaybook], now: datetime
) -> tuple[int, bool]:
    events = external.feed_events_after(conn, runs.cursor(conn, runs.FEED_CURSOR), TRIGGER_BATCH)
    started = 0
    for event in events:
        if event.type == external.RECOMMENDATION_RECEIVED:
            started += _recommendation(conn, playbooks, event, now)
        runs.move_cursor(conn, event.id, runs.FEED_CURSOR)
    return started, len(events) == TRIGGER_BATCH


def _recommendation(
    conn: Connection, playbooks: Mapping[str, LoadedPlaybook], event: FeedEvent, now: datetime
) -> int:
    rec: dict[str, Any] = event.payload
    facts = rec["trigger"]
    trigger = Trigger(
        type=event.type,
        agent_id=None,
        rule=facts["rule"],
        tag=facts["tag"],
        severity=facts["severity"],
        category=facts["category"],
        site=facts["site"],
        area=facts["area"],
        line=facts["line"],
        source_system=rec["source_system"],
    )
    matched = [
        loaded
        for loaded in playbooks.values()
        if loaded.playbook.enabled and matches(loaded.playbook.match, trigger)
    ]
    expired = datetime.fromisoformat(rec["expires_at"]) <= now
    if not matched or expired:
        reason = "it expired before a playbook could start" if expired else "no playbook matches"
        _ignored(conn, rec, trigger, reason, now)
        return 0
    submitter = str(rec["submitted_by"])
    for loaded in matched:
        run = Run(
            id=0,
            playbook_id=loaded.playbook.id,
            policy_version=loaded.version,
            trigger=outbound.RECOMMENDATION,
            alarm_id=None,
            agent_id=None,
            rule=trigger.rule,
            tag=trigger.tag,
            severity=trigger.severity,
            category=trigger.category,
            site=trigger.site,
            area=trigger.area,
            line=trigger.line,
            # Separation of duties: whoever submitted it cannot approve it.
            requested_by=submitter.removeprefix("user:") if submitter.startswith("user:") else None,
            reason=rec["rationale"],
            context={
                "recommendation_id": rec["id"],
                "source_system": rec["source_system"],
                "external_id": rec["external_id"],
                "proposed_action": rec["proposed_action"],
                "parameters": rec["parameters"],
                "scope": rec["scope"],
                "expires_at": rec["expires_at"],
            },
            status="open",
            recurrences=0,
            occurred_at=datetime.fromisoformat(rec["received_at"]),
            created_at=now,
        )
        engine.start_run(conn, run, submitter, now)
    return len(matched)


def _ignored(
    conn: Connection, rec: dict[str, Any], trigger: Trigger, reason: str, now: datetime
) -> None:
    audit.record(
        conn,
        now,
        actor=SYSTEM_ACTOR,
        action="recommendation.ignored",
        object_type="recommendation",
        object_id=rec["id"],
        run=None,
        reason=reason,
        data={"rule": trigger.rule, "expires_at": rec["expires_at"]},
        site=trigger.site,
        area=trigger.area,
    )
    data = {
        "recommendation": {k: rec[k] for k in ("id", "source_system", "external_id")},
        "reason": reason,
    }
    webhooks.enqueue(
        conn, "recommendation.ignored", data, now, site=trigger.site, area=trigger.area
    )


async def close_answered_actions(db: Database, now: datetime) -> int:
    if not await db.read(repository.has_answered_actions):
        return 0
    return await db.write(lambda conn: actions.apply_results(conn, now))


async def fire_due_timers(db: Database, now: datetime) -> int:
    """Fire every timer due at ``now``, each in its own transaction; returns how many fired."""
    fired = 0
    while due := await db.read(lambda cur: repository.due_timers(cur, now, TIMER_BATCH)):
        for timer in due:
            if await db.write(lambda conn, t=timer: fire(conn, t, now)):  # type: ignore[misc]
                fired += 1
    return fired


def fire(conn: Connection, timer: Timer, now: datetime) -> bool:
    """Claim ``timer`` and apply its effect; False if it was already fired or cancelled."""
    if not repository.claim_timer(conn, timer.id, now):
        return False
    item: TaskRow | ApprovalRow | None
    if timer.target_type == "task":
        item = tasks.get(conn, timer.target_id)
        live = item is not None and item.status == "open"
    else:
        item = approvals.get(conn, timer.target_id)
        live = item is not None and item.status == "pending"
    if item is None or not live:
        return True
    run = runs.get_run(conn, item.run_id)
    assert run is not None
    step = engine.playbook_of(conn, run.policy_version).find(item.step_id)
    assert isinstance(step, TaskStep | ApprovalStep)
    if timer.kind == "remind":
        # A reminder that comes due only after its deadline (the hub was down) is dropped.
        if item.due_at is not None and item.due_at > now:
            _remind(conn, run, item, timer, now)
    elif timer.level < len(step.escalate_to):
        _escalate(conn, run, item, step, timer, now)
    elif isinstance(item, ApprovalRow) and item.default_decision is not None:
        _default(conn, run, item, now)
    else:
        _overdue(conn, run, item, timer, now)
    return True


def _kind(item: TaskRow | ApprovalRow) -> str:
    return "task" if isinstance(item, TaskRow) else "approval"


def _save(conn: Connection, item: TaskRow | ApprovalRow) -> None:
    if isinstance(item, TaskRow):
        tasks.update(conn, item)
    else:
        approvals.update(conn, item)


def _who(item: TaskRow | ApprovalRow) -> list[str]:
    who = labels(item.assignees, item.escalation_level)
    if isinstance(item, ApprovalRow):
        who = [slot.label() for slot in item.slots] + who
    return who


def _remind(
    conn: Connection, run: Run, item: TaskRow | ApprovalRow, timer: Timer, now: datetime
) -> None:
    item.reminded_at = now
    _save(conn, item)
    audit.record(
        conn,
        now,
        actor=SYSTEM_ACTOR,
        action=f"{_kind(item)}.reminded",
        object_type=_kind(item),
        object_id=item.id,
        run=run,
        data={"to": _who(item), "due_at": item.due_at.isoformat() if item.due_at else None},
    )


def _escalate(
    conn: Connection,
    run: Run,
    item: TaskRow | ApprovalRow,
    step: TaskStep | ApprovalStep,
    timer: Timer,
    now: datetime,
) -> None:
    before = {"escalation_level": item.escalation_level}
    item.escalation_level = timer.level + 1
    item.escalated_at = now
    item.due_at = timers.next_deadline(step, timer.due_at)
    _save(conn, item)
    timers.schedule(conn, _kind(item), item.id, step, item.escalation_level, item.due_at, now)
    audit.record(
        conn,
        now,
        actor=SYSTEM_ACTOR,
        action=f"{_kind(item)}.escalated",
        object_type=_kind(item),
        object_id=item.id,
        run=run,
        before=before,
        after={
            "escalation_level": item.escalation_level,
            "to": [e.label() for e in item.assignees[item.escalation_level]],
        },
        data={"deadline": timer.due_at.isoformat(), "next_due_at": item.due_at.isoformat()},
    )


def _default(conn: Connection, run: Run, approval: ApprovalRow, now: datetime) -> None:
    assert approval.default_decision is not None
    playbook = engine.playbook_of(conn, run.policy_version)
    taken = snapshot.take(conn, run, playbook.snapshot, now)
    status = "approved" if approval.default_decision == "approve" else "rejected"
    audit.record(
        conn,
        now,
        actor=SYSTEM_ACTOR,
        action="approval.default_applied",
        object_type="approval",
        object_id=approval.id,
        run=run,
        after={"decision": approval.default_decision},
        reason="no decision before the last deadline",
        data={"snapshot": taken, "oldest_age_seconds": snapshot.oldest_age(taken)},
    )
    decisions.conclude(
        conn,
        run,
        approval,
        status,
        "default",
        SYSTEM_ACTOR,
        now,
        reason="default decision after the last deadline",
    )


def _overdue(
    conn: Connection, run: Run, item: TaskRow | ApprovalRow, timer: Timer, now: datetime
) -> None:
    item.overdue = True
    _save(conn, item)
    audit.record(
        conn,
        now,
        actor=SYSTEM_ACTOR,
        action=f"{_kind(item)}.overdue",
        object_type=_kind(item),
        object_id=item.id,
        run=run,
        data={"deadline": timer.due_at.isoformat(), "escalation_level": item.escalation_level},
    )
