"""The ingest writer on a real DuckDB file: group commit, de-duplication within and across
transactions, a failing batch failing alone, and the seq runs kept with the events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from hub.ingest.prepare import Prepared, prepare
from hub.ingest.writer import IngestWriter
from hub.storage import Database
from hub.storage.event_json import EventsJson
from tests.hub.conftest import T0, batch, event


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "hub.duckdb")
    await database.open()
    yield database
    await database.close()


def prepared(agent: str, seqs: range | list[int]) -> Prepared:
    return prepared_events(agent, *(event(seq, agent) for seq in seqs))


def prepared_events(agent: str, *events: dict[str, Any]) -> Prepared:
    return prepare(json.dumps(batch(*events, agent_id=agent)).encode(), agent, T0)


def count_writes(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the transactions submitted to the writer."""
    writes: list[int] = []
    submit = db.submit_write

    def counted(*args: Any, **kwargs: Any) -> Any:
        writes.append(1)
        return submit(*args, **kwargs)

    monkeypatch.setattr(db, "submit_write", counted)
    return writes


async def rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    return await db.read(lambda cur: cur.execute(sql).fetchall())


async def test_concurrent_batches_share_a_commit_and_store_each_event_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = count_writes(db, monkeypatch)
    writer = IngestWriter()
    batches = [
        prepared("a", range(1, 6)),
        prepared("a", range(4, 9)),  # 4, 5 stored by the transaction before
        prepared("a", range(7, 11)),  # 7, 8 stored by the batch before, in the same transaction
        prepared("a", [1, 2, 3]),
        prepared("b", [1, 2, 3]),  # another agent's seqs are its own
    ]
    # The first batch finds the writer idle and goes alone; the rest queue meanwhile.
    results = await asyncio.gather(*(writer.store(db, b) for b in batches))
    assert len(writes) == 2
    assert [set(r.duplicate_seqs) for r in results] == [set(), {4, 5}, {7, 8}, {1, 2, 3}, set()]
    stored = await rows(db, "SELECT agent_id, seq FROM events ORDER BY agent_id, seq")
    assert stored == [("a", seq) for seq in range(1, 11)] + [("b", seq) for seq in (1, 2, 3)]
    runs = await rows(db, "SELECT agent_id, first_seq, last_seq FROM event_seq_ranges ORDER BY 1")
    assert runs == [("a", 1, 10), ("b", 1, 3)]


async def test_a_failing_batch_fails_alone_and_leaves_no_trace(db: Database) -> None:
    writer = IngestWriter()
    good = prepared("a", [1, 2])
    broken = replace(prepared("b", [1, 2]), doc=EventsJson("b", "not json", None))
    also_good = prepared("c", [1])
    first = asyncio.ensure_future(writer.store(db, prepared("a", [10])))
    await asyncio.sleep(0)  # it leads: the three below form one group behind it
    outcomes = await asyncio.gather(
        writer.store(db, good), writer.store(db, broken), writer.store(db, also_good),
        return_exceptions=True,
    )  # fmt: skip
    await first
    assert isinstance(outcomes[1], duckdb.Error)
    assert not isinstance(outcomes[0], BaseException)
    assert not isinstance(outcomes[2], BaseException)
    stored = await rows(db, "SELECT event_id FROM events ORDER BY event_id")
    assert stored == [("a:1",), ("a:10",), ("a:2",), ("c:1",)]
    # Nothing of b was recorded as stored: the same batch, intact, is taken whole.
    again = await writer.store(db, prepared("b", [1, 2]))
    assert again.duplicate_seqs == frozenset()
    runs = await rows(
        db, "SELECT agent_id, first_seq, last_seq FROM event_seq_ranges ORDER BY 1, 2"
    )
    assert runs == [("a", 1, 2), ("a", 10, 10), ("b", 1, 2), ("c", 1, 1)]


async def test_a_new_writer_reads_the_stored_runs(db: Database) -> None:
    """What a restarted hub does: a fresh writer learns the stored seqs from the table."""
    await IngestWriter().store(db, prepared("a", [1, 2, 3, 7]))
    later = await IngestWriter().store(db, prepared("a", [3, 4, 7, 8]))
    assert later.duplicate_seqs == {3, 7}
    count = await rows(db, "SELECT count(*), count(DISTINCT event_id) FROM events")
    assert count == [(6, 6)]


async def test_a_group_sets_each_live_value_once_to_the_newest(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One update takes a group's values: two batches of one agent in it must give one row per
    tag, the newest by source time whichever batch came last."""
    writes = count_writes(db, monkeypatch)
    writer = IngestWriter()

    def value(seq: int, tag: str, seconds: int) -> dict[str, Any]:
        return event(seq, "a", tag=tag, source_time=(T0 + timedelta(seconds=seconds)).isoformat())

    first = asyncio.ensure_future(writer.store(db, prepared_events("a", value(1, "kept", 500))))
    await asyncio.sleep(0)  # it leads: the two below form one group behind it
    newer = prepared_events("a", value(2, "temp", 100), value(3, "fresh", 100))
    older = prepared_events("a", value(4, "temp", 50), value(5, "fresh", 50), value(6, "kept", 1))
    await asyncio.gather(writer.store(db, newer), writer.store(db, older))
    await first
    assert len(writes) == 2  # one group, not written again one by one after a failure
    current = await rows(db, "SELECT tag, seq FROM current_values ORDER BY tag")
    assert current == [("fresh", 3), ("kept", 1), ("temp", 2)]
