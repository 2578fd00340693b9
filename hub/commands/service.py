"""Command rules: what an alarm change at the hub tells the agent, and when a command is
finished. Each ``queue_*`` is called in the transaction of the change it reports, so the change
and its command commit together."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from hub.commands import repository
from hub.storage import Connection, Database
from protocols.wire import Command, CommandKind, Event, EventType


def _queue(
    conn: Connection, agent_id: str, kind: CommandKind, payload: dict[str, Any], at: datetime
) -> Command:
    command = Command(
        command_id=uuid.uuid4().hex,
        kind=kind,
        payload={**payload, "at": at.isoformat()},
        issued_at=at,
    )
    repository.insert(conn, agent_id, command)
    return command


def queue_ack(
    conn: Connection, agent_id: str, occurrence: str, by: str, note: str | None, at: datetime
) -> Command:
    """Tell ``agent_id`` that ``occurrence`` was acknowledged at the hub."""
    payload = {"occurrence": occurrence, "by": by, "note": note}
    return _queue(conn, agent_id, CommandKind.ACK, payload, at)


def queue_shelve(
    conn: Connection,
    agent_id: str,
    rule: str,
    *,
    until: datetime | None,
    before: datetime | None,
    reason: str | None,
    by: str,
    at: datetime,
) -> Command:
    """Tell the agent that its alarm ``rule`` was shelved until ``until`` (None: unshelved).

    ``before`` is the end of the shelve that was in force at the hub until then: the agent
    compares it with its own, to say in its result when it replaced a change of its own.
    """
    payload = {
        "rule": rule,
        "until": until.isoformat() if until else None,
        "before": before.isoformat() if before else None,
        "reason": reason,
        "by": by,
    }
    return _queue(conn, agent_id, CommandKind.SHELVE, payload, at)


def queue_flag(
    conn: Connection,
    agent_id: str,
    rule: str,
    *,
    flag: Literal["suppressed", "out_of_service"],
    on: bool,
    reason: str | None,
    by: str,
    at: datetime,
) -> Command:
    """Tell the agent that its alarm ``rule`` was suppressed / taken out of service (or back)."""
    payload = {"rule": rule, "flag": flag, "on": on, "reason": reason, "by": by}
    return _queue(conn, agent_id, CommandKind.FLAG, payload, at)


def pending_for(conn: Connection, agent_id: str) -> list[Command]:
    return repository.pending(conn, agent_id)


class PendingGate:
    """An agent's pending commands for its ingest reply, read only when some may exist.

    Nearly every reply carries none, and reading that costs a database round trip per batch.
    Once a read finds none while no command insert was in a transaction, the next replies skip
    the read until another command insert begins (in any database of this process: a few
    needless reads, never a missed command). A command leaves ``pending`` only by its result.
    """

    def __init__(self) -> None:
        self._none_after: dict[str, int] = {}
        """Agent -> ``InsertCount.begun`` when a read found none of its commands pending."""

    async def pending_for(self, db: Database, agent_id: str) -> list[Command]:
        begun = repository.InsertCount.begun
        if self._none_after.get(agent_id) == begun:
            return []
        # Every insert counted in ``begun`` has ended: the read below sees what it committed.
        settled = repository.InsertCount.ended == begun
        pending = await db.read(lambda cur: repository.pending(cur, agent_id))
        if pending or not settled:
            self._none_after.pop(agent_id, None)
        else:
            self._none_after[agent_id] = begun
        return pending


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
