"""The gate that skips the read of an agent's pending commands, on a real DuckDB file: it skips
only while no command insert has begun since a read that found none with no insert in flight;
``on_transaction_end``, which tells it when an insert has ended; and, through a real hub, a
command queued after empty replies arriving on the very next one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hub.commands import repository
from hub.commands.service import PendingGate
from hub.storage import (
    Connection,
    Database,
    on_transaction_end,
    open_connection,
    run_in_transaction,
)
from protocols.wire import Command, CommandKind
from tests.hub.conftest import AGENT, OTHER_AGENT, T0, event
from tests.hub.test_alarms import alarms, ingest, raised

WAIT_SECONDS = 10


def command(command_id: str) -> Command:
    return Command(command_id=command_id, kind=CommandKind.ACK, payload={}, issued_at=T0)


def insert(command_id: str, agent_id: str = AGENT) -> Callable[[Connection], None]:
    """Work that queues a command the way the hub does (``repository.insert``)."""
    return lambda conn: repository.insert(conn, agent_id, command(command_id))


def insert_behind_the_count(command_id: str) -> Callable[[Connection], None]:
    """Work that writes a pending command row with plain SQL, bypassing ``repository.insert``
    and so ``InsertCount``: the one kind of insert the gate cannot see. The hub has none; the
    tests use it to tell whether the gate read the table or trusted the count."""

    def work(conn: Connection) -> None:
        conn.execute(
            "INSERT INTO commands (command_id, agent_id, kind, payload, issued_at, status)"
            " VALUES (?, ?, 'ack', '{}', ?, 'pending')",
            [command_id, AGENT, T0],
        )

    return work


def close(command_id: str) -> Callable[[Connection], None]:
    def work(conn: Connection) -> None:
        conn.execute("UPDATE commands SET status = 'done' WHERE command_id = ?", [command_id])

    return work


async def pending_ids(gate: PendingGate, db: Database, agent_id: str = AGENT) -> list[str]:
    return [c.command_id for c in await gate.pending_for(db, agent_id)]


async def test_after_a_read_that_found_none_the_gate_reads_again_only_after_an_insert(
    db: Database,
) -> None:
    gate = PendingGate()
    assert await pending_ids(gate, db) == []
    await db.write(insert_behind_the_count("unseen"))
    # No insert has begun since: the gate does not read, so the row stays unseen.
    assert await pending_ids(gate, db) == []

    await db.write(insert("c1"))
    assert await pending_ids(gate, db) == ["unseen", "c1"]
    # Pending commands are read on every reply until their results close them.
    assert await pending_ids(gate, db) == ["unseen", "c1"]
    assert await pending_ids(gate, db, OTHER_AGENT) == []


async def test_a_command_committed_after_an_in_flight_read_is_not_missed(db: Database) -> None:
    gate = PendingGate()
    assert await pending_ids(gate, db) == []
    inserted, release = threading.Event(), threading.Event()

    def insert_and_hold(conn: Connection) -> None:
        repository.insert(conn, AGENT, command("c1"))
        inserted.set()
        if not release.wait(WAIT_SECONDS):
            raise TimeoutError("the test never released the write")

    write = asyncio.ensure_future(db.write(insert_and_hold))
    try:
        assert await asyncio.to_thread(inserted.wait, WAIT_SECONDS)
        # The insert's transaction is open: this read cannot see it, and must not let the
        # gate skip the next one (the race the ``settled`` check is there for).
        assert await pending_ids(gate, db) == []
    finally:
        release.set()
        await write
    assert await pending_ids(gate, db) == ["c1"]


async def test_a_rolled_back_insert_lets_the_gate_skip_again_after_one_read(
    db: Database,
) -> None:
    gate = PendingGate()
    assert await pending_ids(gate, db) == []

    def insert_then_fail(conn: Connection) -> None:
        insert_behind_the_count("x")(conn)
        repository.insert(conn, AGENT, command("rolled-back"))
        raise RuntimeError("after the insert")

    with pytest.raises(RuntimeError, match="after the insert"):
        await db.write(insert_then_fail)
    await db.write(insert_behind_the_count("seen"))
    # An insert began since the last read: the gate reads (and the rolled-back one is gone).
    assert await pending_ids(gate, db) == ["seen"]
    await db.write(close("seen"))
    assert await pending_ids(gate, db) == []
    # That read found none with every insert ended: the next ones are skipped.
    await db.write(insert_behind_the_count("unseen"))
    assert await pending_ids(gate, db) == []


def test_transaction_end_callbacks_run_after_commit_and_after_rollback(tmp_path: Path) -> None:
    with open_connection(tmp_path / "hub.duckdb") as conn:
        seen: list[tuple[str, int]] = []

        def committed_rows() -> int:
            # Another cursor sees committed rows only.
            cursor = conn.cursor()
            try:
                row = cursor.execute("SELECT count(*) FROM commands").fetchone()
            finally:
                cursor.close()
            assert row is not None
            return int(row[0])

        def work(name: str, fail: bool) -> Callable[[Connection], None]:
            def run(c: Connection) -> None:
                insert_behind_the_count(name)(c)
                on_transaction_end(lambda: seen.append((name, committed_rows())))
                assert seen == []  # not while the transaction is open
                if fail:
                    raise RuntimeError("roll back")

            return run

        run_in_transaction(conn, work("kept", fail=False))
        assert seen == [("kept", 1)]
        seen.clear()
        with pytest.raises(RuntimeError):
            run_in_transaction(conn, work("dropped", fail=True))
        assert seen == [("dropped", 1)]

        # Outside a transaction (the last one has ended): at once.
        called: list[bool] = []
        on_transaction_end(lambda: called.append(True))
        assert called == [True]


def test_a_command_queued_after_empty_replies_comes_on_the_next_reply(
    agent: httpx.Client, as_user: Callable[[str], httpx.Client]
) -> None:
    ingest(agent, raised(1))
    # Replies to plain events: the first reads and finds none, the next skip the read.
    assert ingest(agent, event(2))["commands"] == []
    assert ingest(agent, event(3))["commands"] == []

    maria = as_user("maria")
    [alarm] = alarms(maria)
    assert maria.post(f"/api/v1/alarms/{alarm['id']}/ack", json={}).status_code == 200
    [ack] = ingest(agent, event(4))["commands"]
    assert (ack["kind"], ack["payload"]["occurrence"]) == ("ack", f"{AGENT}:1")
    # Still pending: a batch of duplicates carries it too, until the agent's result closes it.
    repeated = ingest(agent, event(4))
    assert (repeated["duplicates"], repeated["commands"]) == ([f"{AGENT}:4"], [ack])
    result = event(5, type="command.result", context={"command_id": ack["command_id"], "ok": True})
    assert ingest(agent, result)["commands"] == []
    assert ingest(agent, event(6))["commands"] == []
