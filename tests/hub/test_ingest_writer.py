"""The ingest writer on a real DuckDB file and journal folder: de-duplication across batches,
the journal loaded behind the replies, transactional batches after it, a restart reading what
is stored, and an unreadable journal line set aside without holding back the rest."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from hub.ingest import repository, writer
from hub.ingest.journal import Journal, line_of
from hub.ingest.prepare import Prepared, prepare
from hub.ingest.writer import IngestWriter, journal_folder
from hub.storage import Database
from tests.hub.conftest import T0, batch, event


@pytest.fixture
async def ingest(db: Database) -> AsyncIterator[IngestWriter]:
    opened = IngestWriter()
    await opened.open(db)
    yield opened
    await opened.close()


def prepared(agent: str, seqs: range | list[int]) -> Prepared:
    return prepared_events(agent, *(event(seq, agent) for seq in seqs))


def prepared_events(agent: str, *events: dict[str, Any]) -> Prepared:
    return prepare(json.dumps(batch(*events, agent_id=agent)).encode(), agent, T0)


async def rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    return await db.read(lambda cur: cur.execute(sql).fetchall())


def segments(db: Database) -> list[str]:
    return sorted(path.name for path in journal_folder(db.path).glob("*.jsonl"))


async def test_overlapping_batches_store_each_event_once(
    db: Database, ingest: IngestWriter
) -> None:
    batches = [
        prepared("a", range(1, 6)),
        prepared("a", range(4, 9)),  # 4, 5 stored by the batch before
        prepared("a", range(7, 11)),  # 7, 8 likewise
        prepared("a", [1, 2, 3]),
        prepared("b", [1, 2, 3]),  # another agent's seqs are its own
    ]
    results = [await ingest.store(b) for b in batches]
    assert [set(r.duplicate_seqs) for r in results] == [set(), {4, 5}, {7, 8}, {1, 2, 3}, set()]
    await ingest.settled()
    stored = await rows(db, "SELECT agent_id, seq FROM events ORDER BY agent_id, seq")
    assert stored == [("a", seq) for seq in range(1, 11)] + [("b", seq) for seq in (1, 2, 3)]
    runs = await rows(db, "SELECT agent_id, first_seq, last_seq FROM event_seq_ranges ORDER BY 1")
    assert runs == [("a", 1, 10), ("b", 1, 3)]
    assert segments(db) == []  # loaded, then deleted


async def test_concurrent_batches_are_appended_in_order(db: Database, ingest: IngestWriter) -> None:
    results = await asyncio.gather(*(ingest.store(prepared("a", range(1, 9))) for _ in range(4)))
    assert sorted(len(r.duplicate_seqs) for r in results) == [0, 8, 8, 8]
    await ingest.settled()
    assert await rows(db, "SELECT count(*), count(DISTINCT seq) FROM events") == [(8, 8)]


async def test_the_reply_waits_for_the_disk_not_for_duckdb(
    db: Database, ingest: IngestWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the loader is held up, replies still come, and the events are in the journal."""
    release = asyncio.Event()
    load_whole = IngestWriter._load_whole

    async def held(self: IngestWriter, database: Database, segment: Any) -> None:
        await release.wait()
        await load_whole(self, database, segment)

    monkeypatch.setattr(IngestWriter, "_load_whole", held)
    reply = await asyncio.wait_for(ingest.store(prepared("a", [1, 2])), 5)
    assert reply.duplicate_seqs == frozenset()
    await asyncio.sleep(0.05)  # the loader has taken the segment and waits
    assert await rows(db, "SELECT count(*) FROM events") == [(0,)]
    assert len(segments(db)) == 1
    assert ingest.unloaded_segments == 1  # /metrics shows the loader's backlog
    release.set()
    await ingest.settled()
    assert await rows(db, "SELECT seq FROM events ORDER BY seq") == [(1,), (2,)]
    assert ingest.unloaded_segments == 0


async def test_live_values_take_the_newest_whatever_the_batch_order(
    db: Database, ingest: IngestWriter
) -> None:
    def value(seq: int, tag: str, seconds: int) -> dict[str, Any]:
        return event(seq, "a", tag=tag, source_time=(T0 + timedelta(seconds=seconds)).isoformat())

    await ingest.store(prepared_events("a", value(1, "kept", 500)))
    await ingest.store(prepared_events("a", value(2, "temp", 100), value(3, "fresh", 100)))
    await ingest.store(
        prepared_events("a", value(4, "temp", 50), value(5, "fresh", 50), value(6, "kept", 1))
    )
    await ingest.settled()
    current = await rows(db, "SELECT tag, seq FROM current_values ORDER BY tag")
    assert current == [("fresh", 3), ("kept", 1), ("temp", 2)]


async def test_an_alarm_batch_commits_at_once_and_the_journal_follows(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An alarm does not wait for the journal to be loaded (under load that took hundreds of
    milliseconds): it commits with its changes while the loader is held up, and both seq
    indexes stay right for the events still in the journal."""
    release = asyncio.Event()
    run_loader = IngestWriter._run_loader

    async def held(self: IngestWriter) -> None:
        await release.wait()
        await run_loader(self)

    monkeypatch.setattr(IngestWriter, "_run_loader", held)
    writer = IngestWriter()
    await writer.open(db)
    try:
        await writer.store(prepared("a", [1, 2]))
        raised = event(
            3, "a", type="alarm.raised", rule="hi", severity="high", context={"occurrence": "o1"}
        )
        stored = await asyncio.wait_for(writer.store(prepared_events("a", raised)), 5)
        assert [action for action, _ in stored.alarm_changes] == ["raised"]
        assert await rows(db, "SELECT seq FROM events") == [(3,)]  # 1 and 2 still journaled
        assert await rows(db, "SELECT count(*) FROM alarms") == [(1,)]
        # Seqs in the journal and in DuckDB alike are known as stored.
        again = await writer.store(prepared_events("a", event(1, "a"), raised, event(4, "a")))
        assert again.duplicate_seqs == {1, 3}
        release.set()
        await writer.settled()
        assert await rows(db, "SELECT seq FROM events ORDER BY seq") == [(1,), (2,), (3,), (4,)]
        runs = await rows(db, "SELECT agent_id, first_seq, last_seq FROM event_seq_ranges")
        assert runs == [("a", 1, 4)]
    finally:
        release.set()
        await writer.close()
    restarted = IngestWriter()
    await restarted.open(db)
    try:  # what event_seq_ranges saved covers every stored seq
        assert (await restarted.store(prepared("a", range(1, 6)))).duplicate_seqs == {1, 2, 3, 4}
    finally:
        await restarted.close()


async def test_a_restarted_writer_loads_what_was_left_and_knows_what_is_stored(
    db: Database,
) -> None:
    first = IngestWriter()
    await first.open(db)
    await first.store(prepared("a", [1, 2, 3, 7]))
    await first.close()
    # A segment a crash left behind: journaled and durable, never loaded.
    journal = Journal(journal_folder(db.path), next_id=5)
    left = prepared("a", [8, 9])
    await journal.durable(journal.append(line_of(left.doc, T0, None)))
    journal.close()
    later = IngestWriter()
    await later.open(db)
    try:
        assert segments(db) == []
        again = await later.store(prepared("a", [3, 4, 7, 8, 9, 10]))
        assert again.duplicate_seqs == {3, 7, 8, 9}
        await later.settled()
    finally:
        await later.close()
    assert await rows(db, "SELECT count(*), count(DISTINCT seq) FROM events") == [(8, 8)]
    assert await db.read(repository.loaded_segment) >= 5


async def test_a_segment_loaded_before_a_crash_is_not_loaded_again(db: Database) -> None:
    first = IngestWriter()
    await first.open(db)
    await first.store(prepared("a", [1, 2]))
    await first.close()
    loaded = await db.read(repository.loaded_segment)
    # As if the hub stopped between the commit and deleting the file.
    journal = Journal(journal_folder(db.path), next_id=loaded)
    await journal.durable(journal.append(line_of(prepared("a", [1, 2]).doc, T0, None)))
    journal.close()
    later = IngestWriter()
    await later.open(db)
    await later.close()
    assert segments(db) == []
    assert await rows(db, "SELECT count(*) FROM events") == [(2,)]


async def test_an_unreadable_line_is_set_aside_and_the_rest_loaded(
    db: Database, ingest: IngestWriter, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    broken_line = b'{"agent_id":"b","received_at":"not a time","events":[]}\n'
    real_line_of = writer.line_of

    def line_of_b(doc: Any, received_at: Any, keep: Any) -> bytes:
        return broken_line if doc.agent_id == "b" else real_line_of(doc, received_at, keep)

    monkeypatch.setattr(writer, "line_of", line_of_b)
    await asyncio.gather(
        ingest.store(prepared("a", [1])), ingest.store(prepared("b", [1])),
        ingest.store(prepared("c", [1])),
    )  # fmt: skip
    await ingest.settled()
    assert await rows(db, "SELECT agent_id FROM events ORDER BY 1") == [("a",), ("c",)]
    rejected = list((journal_folder(db.path) / "rejected").glob("*.jsonl"))
    assert [path.read_bytes() for path in rejected] == [broken_line]
    assert "unreadable batch" in caplog.text
