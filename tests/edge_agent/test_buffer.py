"""The SQLite outbox: durable, ordered urgent-first, sequence numbers never reused."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from edge_agent.buffer import Buffer, Draft
from protocols.wire import EventType

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _value(n: int) -> Draft:
    return Draft(EventType.VALUE, T0, tag="t", value=n)


def _alarm() -> Draft:
    return Draft(EventType.ALARM_RAISED, T0, tag="t", value=99.0, context={"occurrence": "o1"})


def test_append_assigns_ids_and_urgent_events_go_first(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path / "b.sqlite", "agent-1")
    try:
        values = buffer.append_now([_value(1), _value(2)])
        alarm = buffer.append_now([_alarm()])
        assert [e.event_id for e in values + alarm] == ["agent-1:1", "agent-1:2", "agent-1:3"]
        assert [e.seq for e in buffer.pending_now(10)] == [3, 1, 2]
        assert [e.seq for e in buffer.pending_now(2)] == [3, 1]
    finally:
        buffer.close()


def test_confirmed_events_leave_and_seq_keeps_rising_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    buffer = Buffer(path, "a")
    buffer.append_now([_value(1), _value(2), _value(3)])
    buffer.confirm_now(["a:1", "a:2", "a:3"])
    assert buffer.depth_now() == 0
    buffer.close()

    reopened = Buffer(path, "a")
    try:
        (event,) = reopened.append_now([_value(4)])
        assert event.seq == 4  # not 1: ids are never reused, even with an empty outbox
    finally:
        reopened.close()


def test_unconfirmed_events_survive_a_reopen_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    buffer = Buffer(path, "a")
    written = buffer.append_now([_value(1), _alarm()])
    buffer.close()
    reopened = Buffer(path, "a")
    try:
        assert sorted(reopened.pending_now(10), key=lambda e: e.seq) == written
    finally:
        reopened.close()


def test_rejected_events_move_to_dead_letters_with_reason(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path / "b.sqlite", "a")
    try:
        buffer.append_now([_value(1), _value(2)])
        buffer.dead_letter_now({"a:1": "tag unknown"})
        assert [e.seq for e in buffer.pending_now(10)] == [2]
        assert buffer.dead_letters_now() == [(1, "tag unknown")]
    finally:
        buffer.close()


def test_file_is_wal_with_full_sync(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    Buffer(path, "a").close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
