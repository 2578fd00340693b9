"""SQL for the command queue."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.storage import Connection, on_transaction_end
from protocols.wire import Command, CommandKind

MAX_DELIVERED = 100
"""Commands per ingest reply; the rest follow on later replies, oldest first."""


class InsertCount:
    """Command inserts in this process: ``begun``, and ``ended`` once their transaction has
    committed or rolled back (``hub.commands.service.PendingGate`` reads both). Inserts run
    in transactions of ``run_in_transaction``, as every write of the hub does."""

    begun = 0
    ended = 0
    _lock = threading.Lock()
    """Several databases (tests, tools) write on threads of their own: no count is lost."""

    @classmethod
    def begin(cls) -> None:
        with cls._lock:
            cls.begun += 1

    @classmethod
    def end(cls) -> None:
        with cls._lock:
            cls.ended += 1


def insert(conn: Connection, agent_id: str, command: Command) -> None:
    InsertCount.begin()
    on_transaction_end(InsertCount.end)
    conn.execute(
        "INSERT INTO commands (command_id, agent_id, kind, payload, issued_at, status)"
        " VALUES (?, ?, ?, ?, ?, 'pending')",
        [
            command.command_id,
            agent_id,
            command.kind.value,
            json.dumps(command.payload),
            command.issued_at,
        ],
    )


def pending(conn: Connection, agent_id: str) -> list[Command]:
    rows = conn.execute(
        "SELECT command_id, kind, payload, issued_at FROM commands"
        # Insertion order breaks ties: two changes in one clock tick must reach the agent in
        # the order they were made (the ids are random).
        " WHERE agent_id = ? AND status = 'pending' ORDER BY issued_at, rowid LIMIT ?",
        [agent_id, MAX_DELIVERED],
    ).fetchall()
    return [
        Command.model_construct(
            command_id=row[0],
            kind=CommandKind(row[1]),
            payload=json.loads(row[2]),
            issued_at=row[3],
        )
        for row in rows
    ]


def complete(
    conn: Connection,
    agent_id: str,
    results: Sequence[tuple[str, bool, dict[str, Any]]],
    now: datetime,
) -> None:
    """Close pending commands of ``agent_id`` (another agent's ids are ignored)."""
    if not results:
        return
    conn.execute(
        "UPDATE commands SET status = CASE WHEN r.ok THEN 'done' ELSE 'failed' END,"
        " result_at = $4::TIMESTAMPTZ, result = r.result"
        " FROM (SELECT unnest($1::VARCHAR[]) AS command_id, unnest($2::BOOLEAN[]) AS ok,"
        " unnest($3::VARCHAR[])::JSON AS result) r"
        " WHERE commands.command_id = r.command_id AND commands.agent_id = $5"
        " AND commands.status = 'pending'",
        [
            [r[0] for r in results],
            [r[1] for r in results],
            [json.dumps(r[2]) for r in results],
            now,
            agent_id,
        ],
    )
