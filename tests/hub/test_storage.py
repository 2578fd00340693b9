"""Storage seam: versioned migrations, one writer, reads on cursors."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pydantic import ValidationError

from hub.config import HubConfig
from hub.ingest.journal import line_of
from hub.ingest.repository import insert_events
from hub.storage import MIGRATIONS, Connection, Database, SchemaError, migrate, open_connection
from hub.storage import schema_version as current_version
from hub.storage.event_json import Rows, dump_events, journal_rows
from protocols.wire import Event
from tests.hub.conftest import T0, event

TABLES = {
    "schema_version",
    "events",
    "ingest_journal",
    "alarms",
    "users",
    "sessions",
    "agent_tokens",
    "audit_log",
    "audit_head",
    "alarm_definitions",
    "alarm_transitions",
    "commands",
    "current_values",
}
# Issue 6, governance (migration 5): playbooks, runs, tasks, approvals, timers.
TABLES |= {
    "playbook_versions",
    "gov_runs",
    "gov_steps",
    "gov_tasks",
    "gov_approvals",
    "gov_signatures",
    "gov_timers",
    "gov_delegations",
    "gov_actions",
    "gov_cursor",
}
# Issue 6, feeds (migration 6): plans, holds, constraints, webhooks, external inputs.
TABLES |= {
    "plan_uploads",
    "plan_entries",
    "holds",
    "agent_feed_sync",
    "floor_constraints",
    "constraint_changes",
    "webhook_subscriptions",
    "webhook_deliveries",
    "webhook_attempts",
    "recommendations",
    "feed_events",
    "inventory_positions",
    "supply_commitments",
}
# Issue 5, ingest speed: the runs of seqs stored per agent (de-duplication).
TABLES |= {"event_seq_ranges"}


def tables(conn: Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def test_new_database_gets_every_migration(tmp_path: Path) -> None:
    with open_connection(tmp_path / "new" / "hub.duckdb") as conn:
        assert current_version(conn) == len(MIGRATIONS)
        assert tables(conn) == TABLES


def test_opening_twice_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "hub.duckdb"
    with open_connection(path) as conn:
        conn.execute("INSERT INTO agent_tokens VALUES ('a', 'h', now())")
        first = conn.execute("SELECT version, applied_at FROM schema_version").fetchall()
    with open_connection(path) as conn:
        assert conn.execute("SELECT version, applied_at FROM schema_version").fetchall() == first
        assert migrate(conn) == len(MIGRATIONS)
        assert conn.execute("SELECT agent_id FROM agent_tokens").fetchall() == [("a",)]


def test_pending_migrations_apply_in_order() -> None:
    conn = duckdb.connect(":memory:")
    assert migrate(conn, ["CREATE TABLE a (x INT)"]) == 1
    assert migrate(conn, ["CREATE TABLE a (x INT)", "ALTER TABLE a ADD COLUMN y INT"]) == 2
    assert [r[0] for r in conn.execute("DESCRIBE a").fetchall()] == ["x", "y"]
    conn.close()


def test_failing_migration_is_rolled_back_whole() -> None:
    conn = duckdb.connect(":memory:")
    with pytest.raises(duckdb.Error):
        migrate(conn, ["CREATE TABLE a (x INT); CREATE TABLE a (x INT)"])
    assert current_version(conn) == 0
    assert "a" not in tables(conn)
    conn.close()


def test_database_newer_than_the_hub_is_refused() -> None:
    conn = duckdb.connect(":memory:")
    migrate(conn, ["SELECT 1", "SELECT 2"])
    with pytest.raises(SchemaError, match="newer"):
        migrate(conn, ["SELECT 1"])
    conn.close()


def test_write_rolls_back_on_error_and_reads_see_commits(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Database(tmp_path / "hub.duckdb")
        await db.open()
        try:

            def insert_then_fail(conn: Connection) -> None:
                conn.execute("INSERT INTO agent_tokens VALUES ('a', 'h1', now())")
                raise RuntimeError("boom")

            with pytest.raises(RuntimeError, match="boom"):
                await db.write(insert_then_fail)
            await db.write(
                lambda c: c.execute("INSERT INTO agent_tokens VALUES ('b', 'h2', now())")
            )

            def agents(cur: Connection) -> list[str]:
                rows = cur.execute("SELECT agent_id FROM agent_tokens ORDER BY 1").fetchall()
                return [row[0] for row in rows]

            # Reads from several threads at once, each on its own cursor.
            results = await asyncio.gather(*(db.read(agents) for _ in range(10)))
            assert results == [["b"]] * 10
        finally:
            await db.close()
        with pytest.raises(RuntimeError, match="not open"):
            await db.read(agents)

    asyncio.run(scenario())


def test_concurrent_writes_share_one_writer_thread(tmp_path: Path) -> None:
    def thread_name(conn: Connection) -> str:
        return threading.current_thread().name

    async def scenario() -> set[str]:
        db = Database(tmp_path / "hub.duckdb")
        await db.open()
        try:
            return set(await asyncio.gather(*(db.write(thread_name) for _ in range(20))))
        finally:
            await db.close()

    names = asyncio.run(scenario())
    assert len(names) == 1
    assert threading.current_thread().name not in names


def test_old_alarms_move_to_per_agent_occurrences() -> None:
    conn = duckdb.connect(":memory:")
    conn.execute("SET TimeZone = 'UTC'")
    migrate(conn, MIGRATIONS[:2])
    conn.execute(
        "INSERT INTO alarms VALUES ('occ-1', 'line1', 't1', NULL, 'high', 'equipment', '5',"
        " 'returned', now(), now(), '1', now())"
    )
    migrate(conn)
    row = conn.execute(
        "SELECT id, agent_id, occurrence, rule, active, acknowledged FROM alarms"
    ).fetchone()
    assert row == (1, "line1", "occ-1", "t1", False, False)
    definition = conn.execute("SELECT agent_id, rule, suppressed FROM alarm_definitions")
    assert definition.fetchall() == [("line1", "t1", False)]
    conn.close()


def test_events_lose_their_key_and_their_seqs_become_runs() -> None:
    conn = duckdb.connect(":memory:")
    conn.execute("SET TimeZone = 'UTC'")
    runs_added = next(
        i for i, sql in enumerate(MIGRATIONS) if "CREATE TABLE event_seq_ranges" in sql
    )
    migrate(conn, MIGRATIONS[:runs_added])
    for agent, seq in [("a", 1), ("a", 2), ("a", 3), ("a", 7), ("b", 5)]:
        conn.execute(
            "INSERT INTO events (event_id, agent_id, seq, type, quality, source_time, agent_time,"
            " received_at, context, site) VALUES (?, ?, ?, 'value', 'good', now(), now(), now(),"
            " '{}', 'plant1')",
            [f"{agent}:{seq}", agent, seq],
        )
    migrate(conn)
    runs = conn.execute("SELECT * FROM event_seq_ranges ORDER BY agent_id, first_seq").fetchall()
    assert runs == [("a", 1, 3), ("a", 7, 7), ("b", 5, 5)]
    rows = conn.execute("SELECT event_id, site FROM events ORDER BY agent_id, seq").fetchall()
    assert rows == [("a:1", "plant1"), ("a:2", "plant1"), ("a:3", "plant1"), ("a:7", "plant1"),
                    ("b:5", "plant1")]  # fmt: skip
    keys = conn.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'events'"
        " AND constraint_type = 'PRIMARY KEY'"
    ).fetchone()
    assert keys == (0,)
    conn.close()


def test_threads_setting_reaches_duckdb(tmp_path: Path) -> None:
    async def threads(db: Database) -> Any:
        await db.open()
        try:
            return await db.read(
                lambda cur: cur.execute("SELECT current_setting('threads')").fetchone()
            )
        finally:
            await db.close()

    # 3: not DuckDB's default (one per core) on the 2-core machines this runs on.
    assert asyncio.run(threads(Database(tmp_path / "hub.duckdb", threads=3))) == (3,)
    config = HubConfig.model_validate({"storage": {"threads": 3}})
    assert config.storage.threads == 3
    with pytest.raises(ValidationError, match="threads"):
        HubConfig.model_validate({"storage": {"threads": 0}})


# Numbers and text that JSON may spell several ways; "area" is empty: not a location.
AWKWARD_CONTEXT = {
    "site": "plant1",
    "area": "",
    "line": "L1",
    "big": 2**70,
    "sci": 1e20,
    "tiny": 1e-7,
    "text": 'caf\u00e9 \u2028 "quoted" \\ end',
    "on": True,
    "nothing": None,
}


def events_with(first_seq: int, *contexts: dict[str, Any]) -> list[Event]:
    """Validated events of agent "a", one per context, numbered from ``first_seq``."""
    return [
        Event.model_validate_json(json.dumps(event(seq, "a", context=context)))
        for seq, context in enumerate(contexts, start=first_seq)
    ]


def test_a_shared_context_is_stored_as_each_event_would_store_its_own(tmp_path: Path) -> None:
    """A batch whose events share one context binds it once; what is stored must not differ
    from a batch where each event carries its own."""
    shared = events_with(20, AWKWARD_CONTEXT, AWKWARD_CONTEXT)
    mixed = events_with(30, AWKWARD_CONTEXT, {"site": "plant2"})
    docs = [dump_events("a", batch) for batch in (shared, mixed)]
    assert docs[0].context is not None  # the path under test
    assert docs[1].context is None
    with open_connection(tmp_path / "hub.duckdb") as conn:
        insert_events(conn, [Rows(doc, T0) for doc in docs])  # one statement, as for a group
        rows = conn.execute(
            "SELECT seq, context, site, area, line FROM events ORDER BY seq"
        ).fetchall()
    assert [row[0] for row in rows] == [20, 21, 30, 31]
    assert rows[0][1:] == rows[1][1:] == rows[2][1:]
    assert rows[0][2:] == ("plant1", None, "L1")
    assert json.loads(rows[0][1]) == AWKWARD_CONTEXT


def test_the_journal_reads_contexts_and_locations_as_the_direct_write_does(tmp_path: Path) -> None:
    """A journal line reads a shared context's location once per line, an event's own context
    per event; either way the rows must equal those the direct write stores."""
    odd = {"site": 7, "area": "paint", "line": ""}  # a number is no location, nor is ""
    docs = [
        dump_events("a", events_with(20, AWKWARD_CONTEXT, AWKWARD_CONTEXT)),
        dump_events("a", events_with(30, AWKWARD_CONTEXT, odd, {})),
    ]
    segment = tmp_path / "segment.jsonl"
    segment.write_bytes(b"".join(line_of(doc, T0, None) for doc in docs))
    columns = "seq, context, site, area, line, received_at"
    with open_connection(tmp_path / "hub.duckdb") as conn:
        insert_events(conn, [Rows(doc, T0) for doc in docs])
        direct = conn.execute(f"SELECT {columns} FROM events ORDER BY seq").fetchall()
        journal = conn.execute(
            f"SELECT {columns} FROM {journal_rows(str(segment), 1 << 20)} ORDER BY seq"
        ).fetchall()
    assert journal == direct
    assert [row[2:5] for row in journal] == [
        ("plant1", None, "L1"),
        ("plant1", None, "L1"),
        ("plant1", None, "L1"),
        (None, "paint", None),
        (None, None, None),
    ]
