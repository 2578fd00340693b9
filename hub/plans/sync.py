"""What each agent caches: the plan entries of its lines and the hold list of its site/lines.

The agent replaces its whole cached plan with each ``plan`` command and its whole hold list
with each ``holds`` command (edge_agent/commands.py), so the hub sends the full set for the
agent, and only when it differs from what it last sent (a digest per agent and kind). Services
that change plans or holds call :func:`sync_agents` in their own transaction, so the command is
on the agent's next ingest reply; the feeds pump calls it too, for agents seen for the first
time and for plan entries that have ended.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.commands import repository as commands
from hub.holds import repository as holds
from hub.plans import repository
from hub.storage import Connection
from protocols.wire import Command, CommandKind

MAX_AGENT_ENTRIES = 1000
"""Plan entries sent to one agent: its lines' entries not yet ended, soonest first."""

Outbox = list[tuple[str, CommandKind, dict[str, Any], str]]
"""(agent_id, kind, payload, digest) of commands that would bring agents up to date."""


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def pending(conn: Connection, now: datetime) -> Outbox:
    """The commands agents need now (empty when every agent is up to date)."""
    sent = repository.sync_digests(conn)
    out: Outbox = []
    for agent_id, (site, lines) in repository.agent_locations(conn).items():
        entries = repository.entries_for(conn, site, lines, now, MAX_AGENT_ENTRIES) if lines else []
        plan = {
            "entries": [
                {
                    "line": e.line,
                    "product": e.product,
                    "start": e.start.isoformat(),
                    "end": e.end.isoformat(),
                    "planned_rate_per_hour": e.planned_rate_per_hour,
                    "lot": e.lot,
                }
                for e in entries
            ]
        }
        hold_list = {"lots": holds.lots_for(conn, site, lines)}
        for kind, payload in ((CommandKind.PLAN, plan), (CommandKind.HOLDS, hold_list)):
            digest = _digest(payload)
            previous = sent.get((agent_id, kind.value))
            # Nothing to say to an agent never told anything and with nothing to hold or plan.
            empty = not next(iter(payload.values()))
            if previous != digest and not (previous is None and empty):
                out.append((agent_id, kind, payload, digest))
    return out


def _command_id() -> str:
    # Commands go out ordered by (issued_at, command_id): two uploads within one clock tick
    # must still reach the agent in the order they were made, so the id sorts by creation.
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Queued:
    """A command :func:`queue_commands` put on an agent's queue."""

    agent_id: str
    kind: CommandKind
    payload: dict[str, Any]
    command_id: str


def queue_commands(conn: Connection, now: datetime) -> list[Queued]:
    """Queue the plan / holds commands agents need; call inside a write transaction.
    Returns what was queued (governance links its hold actions to the commands)."""
    queued = []
    for agent_id, kind, payload, digest in pending(conn, now):
        command = Command(command_id=_command_id(), kind=kind, payload=payload, issued_at=now)
        commands.insert(conn, agent_id, command)
        repository.save_sync(conn, agent_id, kind.value, digest, command.command_id, now)
        queued.append(Queued(agent_id, kind, payload, command.command_id))
    return queued


def sync_agents(conn: Connection, now: datetime) -> int:
    """:func:`queue_commands`, returning how many commands were queued."""
    return len(queue_commands(conn, now))
