"""What governance hands to the feeds: constraints for planners, quality holds for the agents,
webhook events for outside systems. Each goes through the feed's own service, inside the
caller's write transaction, so governed changes and feed changes share one board, one hold list
and one delivery log:

* constraints -> :func:`hub.constraints.service.post_constraint` (``GET /constraints``, SSE);
* holds -> :func:`hub.holds.service.apply` (the hold list each agent gets is built from every
  open hold, whoever placed it);
* webhook events -> :func:`hub.webhooks.service.enqueue` (signed, retried, logged).

The outcome of a run is reported the same way: ``approval.decided`` when an approval concludes
and ``run.resolved`` when the run is resolved; a run started by a recommendation also sends
``recommendation.decided`` / ``recommendation.resolved`` so the system that proposed it hears
back under the name it subscribed to.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.auth.scope import Scope
from hub.constraints import repository as constraints_repository
from hub.constraints import service as constraints
from hub.constraints.schemas import Constraint
from hub.governance.records import ApprovalRow, Run
from hub.holds import service as holds
from hub.holds.schemas import Hold, HoldItem, HoldsRequest
from hub.playbooks.model import ConstraintAction
from hub.storage import Connection
from hub.webhooks import service as webhooks
from protocols.wire import CommandKind

RECOMMENDATION = "recommendation"
"""The ``trigger`` of a run started by ``POST /recommendations``."""


def post_constraint(
    conn: Connection, run: Run, action: ConstraintAction, lot: str | None, actor: str, now: datetime
) -> Constraint:
    """Post the action's constraint on the feeds' board for the run's line; returns it (already
    ended for ``available``, which supersedes the open posts on the same equipment)."""
    expected_end = (
        now + timedelta(seconds=action.expected_end) if action.expected_end is not None else None
    )
    return constraints.post_constraint(
        conn,
        status=action.status,
        reason=action.reason,
        actor=actor,
        now=now,
        site=run.site,
        area=run.area,
        line=run.line,
        equipment=action.equipment or run.line or run.agent_id,
        capacity_impact_percent=action.capacity_impact_percent,
        lot=lot,
        expected_end=expected_end,
        run_id=run.id,
    )


def end_constraints(conn: Connection, run: Run, actor: str, now: datetime) -> list[int]:
    """End the open constraints the run posted (its outcome is known); returns their ids."""
    ended = []
    for constraint_id in constraints_repository.open_posted_of_run(conn, run.id):
        if constraints.end_constraint(conn, constraint_id, "run resolved", actor, now):
            ended.append(constraint_id)
    return ended


def constraints_of(conn: Connection, run_id: int) -> list[Constraint]:
    return constraints_repository.of_run(conn, run_id)


EQUIPMENT_DOWN = ("reduced", "unavailable")
"""The constraints whose expected end is when the equipment is back."""


def open_equipment_constraints(conn: Connection, run: Run) -> list[Constraint]:
    return [
        c
        for c in constraints_repository.of_run(conn, run.id)
        if c.ended_at is None and c.status in EQUIPMENT_DOWN
    ]


def set_expected_end(
    conn: Connection, run: Run, expected_end: datetime, actor: str, now: datetime
) -> list[Constraint]:
    """Post each open reduced/unavailable constraint of the run again with a new expected end
    (the new post supersedes the old one: planners see the old one end and the new one open,
    on the board, the stream and by webhook; the post is audited with ``actor``). Returns the
    new constraints."""
    return [
        constraints.post_constraint(
            conn,
            status=c.status,
            reason=c.reason,
            actor=actor,
            now=now,
            site=c.site,
            area=c.area,
            line=c.line,
            equipment=c.equipment,
            capacity_impact_percent=c.capacity_impact_percent,
            lot=c.lot,
            expected_end=expected_end,
            run_id=run.id,
            source=c.source,
        )
        for c in open_equipment_constraints(conn, run)
    ]


@dataclass(frozen=True)
class HoldResult:
    hold: Hold
    placed: bool
    """False when the lot was already on hold there (by anyone): nothing new to send."""
    sent: list[tuple[str, str]]
    """(agent_id, command_id) of the hold-list commands that now carry the lot."""


def hold_lot(
    conn: Connection, run: Run, lot: str, reason: str, actor: str, now: datetime
) -> HoldResult:
    """Hold ``lot`` on the run's line through the holds feed (audited there, with its lot_held
    constraint and ``hold.placed`` webhook), and queue the new hold lists for the agents."""
    request = HoldsRequest(
        hold=[HoldItem(lot=lot, reason=reason, site=run.site, area=run.area, line=run.line)]
    )
    # Governance acts for the playbook, not for a person's scope: the run's location is its own.
    reply, queued = holds.apply_with_commands(conn, request, Scope(), actor, now)
    placed = bool(reply.placed)
    hold = reply.placed[0] if placed else reply.unchanged[0]
    sent = [
        (q.agent_id, q.command_id)
        for q in queued
        if q.kind is CommandKind.HOLDS and lot in q.payload.get("lots", [])
    ]
    return HoldResult(hold, placed, sent)


def send_event(
    conn: Connection, run: Run, event: str, data: dict[str, Any], now: datetime
) -> tuple[str, int]:
    """Queue a webhook event about ``run``; returns (event id, subscriptions it goes to)."""
    event_id = uuid.uuid4().hex
    body = {"run": run_facts(run), **data}
    count = webhooks.enqueue(
        conn, event, body, now, site=run.site, area=run.area, event_id=event_id
    )
    return event_id, count


def run_facts(run: Run) -> dict[str, Any]:
    """What an outside system needs to tie an event to its occurrence."""
    facts: dict[str, Any] = {
        "id": run.id,
        "playbook_id": run.playbook_id,
        "policy_version": run.policy_version,
        "trigger": run.trigger,
        "status": run.status,
        "site": run.site,
        "area": run.area,
        "line": run.line,
        "agent_id": run.agent_id,
        "rule": run.rule,
        "tag": run.tag,
        "severity": run.severity,
        "occurred_at": run.occurred_at.isoformat(),
    }
    if run.trigger == RECOMMENDATION:
        facts["recommendation"] = {
            "id": run.context.get("recommendation_id"),
            "source_system": run.context.get("source_system"),
            "external_id": run.context.get("external_id"),
        }
    return facts


def _announce(conn: Connection, run: Run, what: str, data: dict[str, Any], now: datetime) -> None:
    names = [f"{'approval' if what == 'decided' else 'run'}.{what}"]
    if run.trigger == RECOMMENDATION:
        names.append(f"{RECOMMENDATION}.{what}")
    for name in names:
        send_event(conn, run, name, data, now)


def announce_decision(
    conn: Connection, run: Run, approval: ApprovalRow, source: str, now: datetime
) -> None:
    """``approval.decided`` (and ``recommendation.decided``) once an approval concludes."""
    data = {
        "approval": {
            "id": approval.id,
            "step_id": approval.step_id,
            "title": approval.title,
            "status": approval.status,
            "source": source,
            "decided_at": now.isoformat(),
        }
    }
    _announce(conn, run, "decided", data, now)


def announce_resolution(conn: Connection, run: Run, now: datetime) -> None:
    """``run.resolved`` (and ``recommendation.resolved``): the outcome of the occurrence."""
    data = {
        "outcome": {
            "resolution_code": run.resolution_code,
            "note": run.resolution_note,
            "resolved_by": run.resolved_by,
            "resolved_at": run.resolved_at.isoformat() if run.resolved_at else None,
            "seconds_to_resolve": (
                (run.resolved_at - run.occurred_at).total_seconds() if run.resolved_at else None
            ),
        }
    }
    _announce(conn, run, "resolved", data, now)
