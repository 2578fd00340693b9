"""Actions on a decision: hold a lot at the agents of the line, an approved tag write, a
constraint for planners, a webhook event. Each becomes an action row linked to its run and
decision and an audit record, in the transaction of the decision itself.

Holds, constraints and webhook events go through the feeds' services (hub/governance/outbound.py),
so they show on the same hold list, constraint board and delivery log as everyone else's.
Commands ride to the agents on their ingest replies; the agent's ``command.result`` closes the
action (the pump copies it over): a write to a tag the agent does not declare writable is
refused there and recorded here as ``failed`` with the agent's reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.audit.schemas import SYSTEM_ACTOR, agent_actor
from hub.commands import repository as commands
from hub.governance import audit, outbound, repository
from hub.governance.records import ActionRow, Run
from hub.playbooks.model import (
    Action,
    ConstraintAction,
    HoldLotAction,
    WebhookAction,
    WriteTagAction,
)
from hub.storage import Connection
from protocols.wire import Command, CommandKind

MAX_LOT = 200
"""The longest lot name a hold takes (hub/holds/schemas.py)."""


def run_actions(
    conn: Connection,
    run: Run,
    step_id: str,
    approval_id: int | None,
    decision: str | None,
    actions: Sequence[Action],
    actor: str,
    now: datetime,
) -> list[ActionRow]:
    done: list[ActionRow] = []
    for action in actions:
        if isinstance(action, HoldLotAction):
            done += _hold(conn, run, step_id, approval_id, decision, action, actor, now)
        elif isinstance(action, WriteTagAction):
            done.append(_write(conn, run, step_id, approval_id, decision, action, now))
        elif isinstance(action, ConstraintAction):
            done.append(_constraint(conn, run, step_id, approval_id, decision, action, actor, now))
        else:
            done.append(_webhook(conn, run, step_id, approval_id, decision, action, now))
    for row in done:
        audit.record(
            conn,
            now,
            actor=actor,
            action=f"action.{row.status}",
            object_type="action",
            object_id=row.id,
            run=run,
            after={"kind": row.kind, "status": row.status},
            data={
                "approval_id": approval_id,
                "step_id": step_id,
                "decision": decision,
                "payload": row.payload,
                "agent_id": row.agent_id,
                "command_id": row.command_id,
                "detail": row.detail,
            },
        )
    return done


def _row(
    run: Run,
    step_id: str,
    approval_id: int | None,
    decision: str | None,
    kind: str,
    payload: dict[str, Any],
    status: str,
    now: datetime,
    agent_id: str | None = None,
    command_id: str | None = None,
    detail: str | None = None,
) -> ActionRow:
    return ActionRow(
        id=0,
        run_id=run.id,
        approval_id=approval_id,
        step_id=step_id,
        kind=kind,
        decision=decision,
        payload=payload,
        agent_id=agent_id,
        command_id=command_id,
        status=status,
        detail=detail,
        created_at=now,
        finished_at=now if status != "sent" else None,
    )


def _save(conn: Connection, row: ActionRow) -> ActionRow:
    row.id = repository.insert_action(conn, row)
    return row


def _command(
    conn: Connection, agent_id: str, kind: CommandKind, payload: dict[str, Any], now: datetime
) -> str:
    command = Command(command_id=uuid.uuid4().hex, kind=kind, payload=payload, issued_at=now)
    commands.insert(conn, agent_id, command)
    return command.command_id


def _lot(conn: Connection, run: Run, lot: str | None, lot_tag: str | None) -> str | None:
    if lot is not None:
        return lot
    if lot_tag is None:
        return None
    value = repository.live_value(conn, lot_tag, run.site, run.line, run.agent_id)
    text = str(value).strip() if value is not None else ""
    return text or None


def _hold(
    conn: Connection,
    run: Run,
    step_id: str,
    approval_id: int | None,
    decision: str | None,
    action: HoldLotAction,
    actor: str,
    now: datetime,
) -> list[ActionRow]:
    lot = _lot(conn, run, action.lot, action.lot_tag)
    payload: dict[str, Any] = {"lot": lot, "reason": action.reason, "lot_tag": action.lot_tag}

    def row(status: str, **extra: Any) -> ActionRow:
        return _save(
            conn,
            _row(run, step_id, approval_id, decision, "hold_lot", payload, status, now, **extra),
        )

    if lot is None:
        return [row("failed", detail=f"no live value of {action.lot_tag!r} on the line: no lot")]
    if len(lot) > MAX_LOT:
        return [row("failed", detail=f"the lot read from {action.lot_tag!r} is not a lot name")]
    result = outbound.hold_lot(conn, run, lot, action.reason, actor, now)
    payload["hold_id"] = result.hold.id
    if result.sent:
        return [
            row("sent", agent_id=agent_id, command_id=command_id)
            for agent_id, command_id in result.sent
        ]
    if not result.placed:
        return [row("done", detail=f"the lot was already on hold there (hold {result.hold.id})")]
    return [
        row(
            "recorded",
            detail="no hold list to change: no agent of the line is known yet (it gets the"
            " list when it first reports), or the lot is already on its list",
        )
    ]


def _write(
    conn: Connection,
    run: Run,
    step_id: str,
    approval_id: int | None,
    decision: str | None,
    action: WriteTagAction,
    now: datetime,
) -> ActionRow:
    payload: dict[str, Any] = {"tag": action.tag, "value": action.value}
    if run.agent_id is None:
        return _save(
            conn,
            _row(
                run,
                step_id,
                approval_id,
                decision,
                "write_tag",
                payload,
                "failed",
                now,
                detail="the run names no agent to write to",
            ),
        )
    command_payload = {**payload, "run_id": run.id, "approval_id": approval_id}
    command_id = _command(conn, run.agent_id, CommandKind.WRITE, command_payload, now)
    return _save(
        conn,
        _row(
            run,
            step_id,
            approval_id,
            decision,
            "write_tag",
            payload,
            "sent",
            now,
            agent_id=run.agent_id,
            command_id=command_id,
        ),
    )


def _constraint(
    conn: Connection,
    run: Run,
    step_id: str,
    approval_id: int | None,
    decision: str | None,
    action: ConstraintAction,
    actor: str,
    now: datetime,
) -> ActionRow:
    lot = _lot(conn, run, None, action.lot_tag)
    posted = outbound.post_constraint(conn, run, action, lot, actor, now)
    payload = {**action.model_dump(mode="json"), "lot": lot, "constraint_id": posted.id}
    detail = f"constraint {posted.id} posted" + (" and ended" if posted.ended_at else "")
    return _save(
        conn,
        _row(
            run, step_id, approval_id, decision, "constraint", payload, "done", now, detail=detail
        ),
    )


def _webhook(
    conn: Connection,
    run: Run,
    step_id: str,
    approval_id: int | None,
    decision: str | None,
    action: WebhookAction,
    now: datetime,
) -> ActionRow:
    data = {"step_id": step_id, "approval_id": approval_id, "decision": decision}
    event_id, count = outbound.send_event(conn, run, action.event, data, now)
    payload = {"event": action.event, "event_id": event_id, **data}
    status, detail = (
        ("done", f"queued for {count} webhook subscription(s)")
        if count
        else ("recorded", f"no webhook subscription wants {action.event!r}")
    )
    return _save(
        conn,
        _row(run, step_id, approval_id, decision, "webhook", payload, status, now, detail=detail),
    )


def apply_results(conn: Connection, now: datetime) -> int:
    """Close sent actions whose command the agent has answered; returns how many."""
    answered = repository.answered_actions(conn)
    for action, ok, result in answered:
        status = "done" if ok else "failed"
        detail = result.get("detail")
        detail_text = str(detail) if detail is not None else None
        repository.finish_action(conn, action.id, status, detail_text, now)
        site, area = repository.run_location(conn, action.run_id)
        audit.record(
            conn,
            now,
            actor=agent_actor(action.agent_id) if action.agent_id else SYSTEM_ACTOR,
            action=f"action.{status}",
            object_type="action",
            object_id=action.id,
            run=None,
            before={"status": "sent"},
            after={"status": status},
            data={
                "run_id": action.run_id,
                "kind": action.kind,
                "agent_id": action.agent_id,
                "command_id": action.command_id,
                "result": result,
            },
            site=site,
            area=area,
        )
    return len(answered)
