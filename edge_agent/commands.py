"""Commands from the hub, carried on the ingest reply: acknowledgements, shelving, suppression
and out-of-service, plan and hold lists, approved tag writes. Each is executed at most once per
command id, even across a restart, and its result goes back to the hub as a ``command.result``
event.

The hub re-sends a command on every reply until the result event arrives, so the agent keeps
the ids it has seen in its database, saved in the same transaction as the result. A write is
marked started before it touches the device: if the agent dies in between, the write is not
repeated after the restart but reported as uncertain, because a PLC output must never be
driven twice by one approval. The alarm commands change the board in their own transaction,
before the result's: repeated after a crash in between, they change nothing more.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from edge_agent.alarms import FLAGS, AlarmError, Flag
from edge_agent.buffer import Buffer, Draft
from edge_agent.plans import MemoryPlanBook, PlanEntry
from protocols.base import ProtocolError
from protocols.wire import Command, CommandKind, EventType, Scalar, utc_now

log = logging.getLogger(__name__)

SEEN_KEY = "commands_seen"
PLANS_KEY = "plans"
HOLDS_KEY = "holds"
_REMEMBERED = 5000  # ids kept; the hub stops re-sending long before this many newer commands
_PLAN_ENTRIES = TypeAdapter(list[PlanEntry])
_LOTS = TypeAdapter(list[str])


class CommandFailed(Exception):
    """The command was understood but could not be carried out; the message says why."""


class Effects(Protocol):
    """What commands act on: the agent's pipeline and its sources."""

    async def acknowledge(
        self, occurrence: str, by: str, note: str | None, channel: str
    ) -> None: ...

    async def follow_shelve(
        self,
        rule: str,
        until: datetime | None,
        before: datetime | None,
        reason: str,
        by: str,
        issued_at: datetime,
    ) -> str:
        """Shelve (``until``) or unshelve (None) as the hub did; returns what was done."""
        ...

    async def follow_flag(self, rule: str, flag: Flag, on: bool, issued_at: datetime) -> str:
        """Set ``suppressed`` or ``out_of_service`` as the hub did; returns what was done."""
        ...

    async def write(self, tag: str, value: Scalar) -> Scalar:
        """Write a tag and return its value read back afterwards."""
        ...

    def plans_changed(self) -> None: ...


class CommandHandler:
    """Executes the hub's commands in order, each at most once.

    Args:
        buffer: Where results go, with the remembered ids in the same transaction.
        effects: The agent side of each command.
        plans: The cached plan book the plan-deviation and hold rules read.
        writable: Tags the agent's config allows to be written.
    """

    def __init__(
        self,
        buffer: Buffer,
        effects: Effects,
        plans: MemoryPlanBook,
        writable: frozenset[str],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._buffer = buffer
        self._effects = effects
        self._plans = plans
        self._writable = writable
        self._clock = clock
        self._seen: deque[str] = deque(maxlen=_REMEMBERED)
        self._started: set[str] = set()

    async def restore(self) -> None:
        """Load remembered command ids and the cached plans and holds."""
        if saved := await self._buffer.load_state(SEEN_KEY):
            data = json.loads(saved)
            self._seen.extend(data["seen"])
            self._started = set(data["started"])
        if plans := await self._buffer.load_state(PLANS_KEY):
            self._plans.replace_plans(_PLAN_ENTRIES.validate_json(plans))
        if holds := await self._buffer.load_state(HOLDS_KEY):
            self._plans.replace_holds(_LOTS.validate_json(holds))

    async def handle(self, commands: list[Command]) -> None:
        for command in commands:
            if command.command_id in self._seen:
                continue  # done already; its result is on its way or delivered
            if command.command_id in self._started:
                await self._finish(
                    command,
                    False,
                    "the agent restarted during this write; "
                    "it was not repeated: check the value at the machine",
                )
                continue
            await self._run(command)

    async def _run(self, command: Command) -> None:
        state: dict[str, str] = {}
        result: dict[str, Scalar] = {}
        detail = "done"
        try:
            match command.kind:
                case CommandKind.ACK:
                    await self._ack(command.payload)
                case CommandKind.SHELVE:
                    detail = await self._shelve(command)
                case CommandKind.FLAG:
                    detail = await self._flag(command)
                case CommandKind.PLAN:
                    entries = _PLAN_ENTRIES.validate_python(command.payload.get("entries"))
                    self._plans.replace_plans(entries)
                    state[PLANS_KEY] = _PLAN_ENTRIES.dump_json(entries).decode()
                    self._effects.plans_changed()
                    result["entries"] = len(entries)
                case CommandKind.HOLDS:
                    lots = _LOTS.validate_python(command.payload.get("lots"))
                    self._plans.replace_holds(lots)
                    state[HOLDS_KEY] = _LOTS.dump_json(lots).decode()
                    self._effects.plans_changed()
                    result["lots"] = len(lots)
                case CommandKind.WRITE:
                    result["readback"] = await self._write(command)
        except (CommandFailed, AlarmError, ValidationError, ValueError, ProtocolError) as exc:
            log.warning("command %s (%s) failed: %s", command.command_id, command.kind, exc)
            await self._finish(command, False, str(exc))
            return
        await self._finish(command, True, detail, result, state)

    async def _ack(self, payload: dict[str, Any]) -> None:
        occurrence, by = payload.get("occurrence"), payload.get("by")
        if not isinstance(occurrence, str) or not isinstance(by, str):
            raise CommandFailed("ack needs 'occurrence' and 'by'")
        note = payload.get("note")
        await self._effects.acknowledge(
            occurrence, by, note if isinstance(note, str) else None, "hub"
        )

    async def _shelve(self, command: Command) -> str:
        payload = command.payload
        rule, reason, by = payload.get("rule"), payload.get("reason"), payload.get("by")
        if not isinstance(rule, str):
            raise CommandFailed("shelve needs 'rule'")
        until = _time(payload, "until")
        return await self._effects.follow_shelve(
            rule,
            until,
            _time(payload, "before"),
            reason if isinstance(reason, str) else "",
            by if isinstance(by, str) else "hub",
            command.issued_at,
        )

    async def _flag(self, command: Command) -> str:
        rule, flag, on = (command.payload.get(key) for key in ("rule", "flag", "on"))
        if not isinstance(rule, str) or flag not in FLAGS or not isinstance(on, bool):
            raise CommandFailed(
                f"flag needs 'rule', 'flag' (one of {', '.join(FLAGS)}) and 'on' (true/false)"
            )
        return await self._effects.follow_flag(rule, flag, on, command.issued_at)

    async def _write(self, command: Command) -> Scalar:
        tag, value = command.payload.get("tag"), command.payload.get("value")
        if not isinstance(tag, str) or tag not in self._writable:
            raise CommandFailed(f"tag {tag!r} is not writable at this agent")
        if not isinstance(value, (bool, int, float, str)):
            raise CommandFailed("write needs a scalar 'value'")
        # Durable before the device is touched: see the module docstring.
        self._started.add(command.command_id)
        await self._buffer.append([], {SEEN_KEY: self._dump_seen()})
        return await self._effects.write(tag, value)

    async def _finish(
        self,
        command: Command,
        ok: bool,
        detail: str,
        result: dict[str, Scalar] | None = None,
        state: dict[str, str] | None = None,
    ) -> None:
        self._seen.append(command.command_id)
        self._started.discard(command.command_id)
        context: dict[str, Scalar] = {
            "command_id": command.command_id,
            "kind": command.kind.value,
            "ok": ok,
            "detail": detail,
            **(result or {}),
        }
        draft = Draft(EventType.COMMAND_RESULT, self._clock(), context=context)
        await self._buffer.append([draft], {**(state or {}), SEEN_KEY: self._dump_seen()})

    def _dump_seen(self) -> str:
        return json.dumps({"seen": list(self._seen), "started": sorted(self._started)})


def _time(payload: dict[str, Any], key: str) -> datetime | None:
    """An optional ISO-8601 time with its zone from the payload."""
    value = payload.get(key)
    if value is None:
        return None
    when = datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        raise CommandFailed(f"shelve {key!r} needs a timezone, e.g. 2026-03-02T14:00:00Z")
    return when
