"""Actions on a decision: hold a lot at the agents of the line, an approved tag write, a
constraint for planners, a webhook event. Each becomes an action row linked to its run and
decision and an audit record, in the transaction of the decision itself.

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
            done += _hold(conn, run, step_id, approval_id, decision, action, now)
        elif isinstance(action, WriteTagAction):
            done.append(_write(conn, run, step_id, approval_id, decision, action, now))
        elif isinstance(action, ConstraintAction):
            done.append(_constraint(conn, run, step_id, approval_id, decision, action, now))
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
        finished_at=now if status in ("failed", "recorded") else None,
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
    now: datetime,
) -> list[ActionRow]:
    lot = _lot(conn, run, action.lot, action.lot_tag)
    payload: dict[str, Any] = {"lot": lot, "reason": action.reason, "lot_tag": action.lot_tag}
    if lot is None:
        detail = f"no live value of {action.lot_tag!r} on the line: no lot to hold"
        return [
            _save(
                conn,
                _row(
                    run,
                    step_id,
                    approval_id,
                    decision,
                    "hold_lot",
                    payload,
                    "failed",
                    now,
                    detail=detail,
                ),
            )
        ]
    repository.add_hold(conn, lot, run.site, run.line, run.id, action.reason, now)
    agents = repository.line_agents(conn, run.site, run.line) if run.line is not None else []
    if run.agent_id is not None and run.agent_id not in agents:
        agents.append(run.agent_id)
    # The agent replaces its whole hold list with each holds command: send every lot held here.
    lots = repository.held_lots(conn, run.site, run.line)
    rows = []
    for agent_id in agents:
        command_id = _command(conn, agent_id, CommandKind.HOLDS, {"lots": lots}, now)
        rows.append(
            _save(
                conn,
                _row(
                    run,
                    step_id,
                    approval_id,
                    decision,
                    "hold_lot",
                    payload,
                    "sent",
                    now,
                    agent_id=agent_id,
                    command_id=command_id,
                ),
            )
        )
    if not rows:
        rows.append(
            _save(
                conn,
                _row(
                    run,
                    step_id,
                    approval_id,
                    decision,
                    "hold_lot",
                    payload,
                    "recorded",
                    now,
                    detail="no agent known on the line: the hold is kept at the hub",
                ),
            )
        )
    return rows


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
    now: datetime,
) -> ActionRow:
    lot = _lot(conn, run, None, action.lot_tag)
    constraint_id = outbound.post_constraint(conn, run, action, lot, now)
    payload = {**action.model_dump(mode="json"), "lot": lot, "constraint_id": constraint_id}
    return _save(
        conn, _row(run, step_id, approval_id, decision, "constraint", payload, "recorded", now)
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
    payload = {"event": action.event, "run_id": run.id, "approval_id": approval_id}
    return _save(
        conn,
        _row(
            run,
            step_id,
            approval_id,
            decision,
            "webhook",
            payload,
            "recorded",
            now,
            detail=outbound.WEBHOOK_DETAIL,
        ),
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
