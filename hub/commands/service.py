"""Command rules: what an ack at the hub tells the agent, and when a command is finished."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from hub.commands import repository
from hub.storage import Connection
from protocols.wire import Command, CommandKind, Event, EventType


def queue_ack(
    conn: Connection, agent_id: str, occurrence: str, by: str, note: str | None, at: datetime
) -> Command:
    """Tell ``agent_id`` that ``occurrence`` was acknowledged at the hub (call in the ack's
    transaction, so the ack and its command commit together)."""
    command = Command(
        command_id=uuid.uuid4().hex,
        kind=CommandKind.ACK,
        payload={"occurrence": occurrence, "by": by, "note": note, "at": at.isoformat()},
        issued_at=at,
    )
    repository.insert(conn, agent_id, command)
    return command


def pending_for(conn: Connection, agent_id: str) -> list[Command]:
    return repository.pending(conn, agent_id)


def apply_results(conn: Connection, agent_id: str, events: Sequence[Event], now: datetime) -> None:
    """``command.result`` events (context ``{"command_id": str, "ok": bool}``) close commands;
    a result without those fields is kept as an event only."""
    results = []
    for event in events:
        if event.type is not EventType.COMMAND_RESULT:
            continue
        command_id, ok = event.context.get("command_id"), event.context.get("ok")
        if isinstance(command_id, str) and isinstance(ok, bool):
            results.append((command_id, ok, dict(event.context)))
    repository.complete(conn, agent_id, results, now)
