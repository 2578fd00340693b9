"""Commands from the hub: at most once per id, across restarts, each answered with a result."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge_agent.alarms import AlarmError, Flag
from edge_agent.buffer import Buffer
from edge_agent.commands import CommandHandler
from edge_agent.plans import MemoryPlanBook
from protocols.wire import Command, CommandKind, EventType, Scalar

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


class Effects:
    """Records what the commands asked of the agent (the seam to the pipeline and PLCs)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.values: dict[str, Scalar] = {}

    async def acknowledge(self, occurrence: str, by: str, note: str | None, channel: str) -> None:
        if occurrence == "gone":
            raise AlarmError("no open alarm occurrence 'gone'")
        self.calls.append(("ack", occurrence, by, note, channel))

    async def follow_shelve(
        self,
        rule: str,
        until: datetime | None,
        before: datetime | None,
        reason: str,
        by: str,
        issued_at: datetime,
    ) -> str:
        self.calls.append(("shelve", rule, until, before, reason, by, issued_at))
        return "unshelved" if until is None else "shelved"

    async def follow_flag(self, rule: str, flag: Flag, on: bool, issued_at: datetime) -> str:
        self.calls.append(("flag", rule, flag, on, issued_at))
        return flag

    async def write(self, tag: str, value: Scalar) -> Scalar:
        self.calls.append(("write", tag, value))
        self.values[tag] = value
        return value

    def plans_changed(self) -> None:
        self.calls.append(("plans_changed",))


def _command(command_id: str, kind: CommandKind, **payload: Any) -> Command:
    return Command(command_id=command_id, kind=kind, payload=payload, issued_at=T0)


def _results(buffer: Buffer) -> list[dict[str, Scalar]]:
    return [e.context for e in buffer.events_now(100) if e.type is EventType.COMMAND_RESULT]


@pytest.fixture
def buffer(tmp_path: Path):  # type: ignore[no-untyped-def]
    opened = Buffer(tmp_path / "agent.sqlite", "a")
    yield opened
    opened.close()


def _handler(
    buffer: Buffer, effects: Effects, plans: MemoryPlanBook | None = None
) -> CommandHandler:
    return CommandHandler(buffer, effects, plans or MemoryPlanBook(), frozenset({"press.setpoint"}))


async def test_a_command_resent_by_the_hub_runs_once(buffer: Buffer) -> None:
    effects = Effects()
    handler = _handler(buffer, effects)
    ack = _command("c1", CommandKind.ACK, occurrence="o1", by="ana", note="seen")
    await handler.handle([ack])
    await handler.handle([ack])
    assert effects.calls == [("ack", "o1", "ana", "seen", "hub")]
    (result,) = _results(buffer)
    assert result["command_id"] == "c1"
    assert result["ok"] is True


async def test_remembered_ids_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "agent.sqlite"
    buffer = Buffer(path, "a")
    await _handler(buffer, Effects()).handle(
        [_command("c1", CommandKind.ACK, occurrence="o", by="x")]
    )
    buffer.close()
    buffer = Buffer(path, "a")
    try:
        effects = Effects()
        handler = _handler(buffer, effects)
        await handler.restore()
        await handler.handle([_command("c1", CommandKind.ACK, occurrence="o", by="x")])
        assert effects.calls == []
    finally:
        buffer.close()


async def test_write_only_for_writable_tags_and_reports_readback(buffer: Buffer) -> None:
    effects = Effects()
    handler = _handler(buffer, effects)
    await handler.handle(
        [
            _command("w1", CommandKind.WRITE, tag="press.setpoint", value=75.5),
            _command("w2", CommandKind.WRITE, tag="press.state", value=0),
        ]
    )
    assert effects.calls == [("write", "press.setpoint", 75.5)]
    ok, refused = _results(buffer)
    assert (ok["ok"], ok["readback"]) == (True, 75.5)
    assert refused["ok"] is False
    assert "not writable" in str(refused["detail"])


async def test_write_interrupted_by_a_crash_is_not_repeated(tmp_path: Path) -> None:
    path = tmp_path / "agent.sqlite"
    buffer = Buffer(path, "a")

    class Crash(Effects):
        async def write(self, tag: str, value: Scalar) -> Scalar:
            raise SystemExit("power cut")  # the agent dies mid-write

    with pytest.raises(SystemExit):
        await _handler(buffer, Crash()).handle(
            [_command("w1", CommandKind.WRITE, tag="press.setpoint", value=1)]
        )
    buffer.close()

    buffer = Buffer(path, "a")
    try:
        effects = Effects()
        handler = _handler(buffer, effects)
        await handler.restore()
        await handler.handle([_command("w1", CommandKind.WRITE, tag="press.setpoint", value=1)])
        assert effects.calls == []  # never driven twice by one approval
        (result,) = _results(buffer)
        assert result["ok"] is False
        assert "not repeated" in str(result["detail"])
    finally:
        buffer.close()


async def test_plans_and_holds_are_cached_and_restored(tmp_path: Path) -> None:
    path = tmp_path / "agent.sqlite"
    buffer = Buffer(path, "a")
    plans = MemoryPlanBook()
    entry = {
        "line": "line-1",
        "product": "P7",
        "start": "2026-03-02T06:00:00+00:00",
        "end": "2026-03-02T14:00:00+00:00",
        "planned_rate_per_hour": 1200,
        "lot": "L1",
    }
    await _handler(buffer, Effects(), plans).handle(
        [
            _command("p1", CommandKind.PLAN, entries=[entry]),
            _command("h1", CommandKind.HOLDS, lots=["L9"]),
        ]
    )
    assert plans.current("line-1", T0) is not None
    assert plans.on_hold("L9")
    buffer.close()

    buffer = Buffer(path, "a")
    try:
        restored = MemoryPlanBook()
        await _handler(buffer, Effects(), restored).restore()
        current = restored.current("line-1", T0)
        assert current is not None and current.planned_rate_per_hour == 1200
        assert restored.on_hold("L9") and not restored.on_hold("L1")
    finally:
        buffer.close()


async def test_bad_commands_fail_alone_with_a_reason(buffer: Buffer) -> None:
    effects = Effects()
    await _handler(buffer, effects).handle(
        [
            _command("b1", CommandKind.ACK, occurrence="gone", by="ana"),
            _command("b2", CommandKind.PLAN, entries=[{"line": "x"}]),
            _command("b3", CommandKind.SHELVE, rule="p.hi", until=None, reason="done"),
            _command("b4", CommandKind.SHELVE, rule="p.hi", until="2026-03-02T07:00:00"),
            _command("b5", CommandKind.FLAG, rule="p.hi", flag="hidden", on=True),
        ]
    )
    gone, bad_plan, shelved, naive, bad_flag = _results(buffer)
    assert gone["ok"] is False and "no open alarm" in str(gone["detail"])
    assert bad_plan["ok"] is False
    assert (shelved["ok"], shelved["detail"]) == (True, "unshelved")
    assert naive["ok"] is False and "needs a timezone" in str(naive["detail"])
    assert bad_flag["ok"] is False and "one of suppressed, out_of_service" in str(
        bad_flag["detail"]
    )
    assert effects.calls == [("shelve", "p.hi", None, None, "done", "hub", T0)]


async def test_alarm_flag_commands_carry_the_hubs_change(buffer: Buffer) -> None:
    effects = Effects()
    until = "2026-03-02T06:30:00+00:00"
    await _handler(buffer, effects).handle(
        [
            _command(
                "s1", CommandKind.SHELVE, rule="p.hi", until=until, before=None, reason="swap",
                by="user:maria",
            ),
            _command("f1", CommandKind.FLAG, rule="p.hi", flag="out_of_service", on=True),
        ]
    )  # fmt: skip
    assert effects.calls == [
        ("shelve", "p.hi", datetime.fromisoformat(until), None, "swap", "user:maria", T0),
        ("flag", "p.hi", "out_of_service", True, T0),
    ]
    shelved, flagged = _results(buffer)
    assert (shelved["kind"], shelved["ok"], shelved["detail"]) == ("shelve", True, "shelved")
    assert (flagged["kind"], flagged["detail"]) == ("flag", "out_of_service")
