"""The SQLite outbox: durable, urgent first, bounded with a drop policy, ids never reused."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge_agent.buffer import Buffer, Draft
from protocols.wire import EventType, IngestRequest, Quality, Severity

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _value(n: int | float | str | bool | None, tag: str = "t") -> Draft:
    return Draft(EventType.VALUE, T0, tag=tag, value=n)


def _alarm() -> Draft:
    return Draft(
        EventType.ALARM_RAISED,
        T0,
        tag="press.temperature",
        value=99.5,
        rule="press.hi",
        severity=Severity.HIGH,
        context={"occurrence": "o1", "limit": 80.0, "note": 'quote " and \\ back'},
    )


@pytest.fixture
def buffer(tmp_path: Path):  # type: ignore[no-untyped-def]
    opened = Buffer(tmp_path / "b.sqlite", "agent-1")
    yield opened
    opened.close()


def test_append_assigns_seq_and_urgent_events_go_first(buffer: Buffer) -> None:
    assert buffer.append_now([_value(1), _value(2)]) == [1, 2]
    assert buffer.append_now([_alarm()]) == [3]
    assert [p.event_id for p in buffer.pending_now(10)] == ["agent-1:3", "agent-1:1", "agent-1:2"]
    assert [p.urgent for p in buffer.pending_now(10)] == [True, False, False]


def test_wire_json_is_a_valid_event_with_every_field_kept(buffer: Buffer) -> None:
    buffer.append_now([_alarm(), _value(True), _value(7), _value("LOT-1"), _value(None)])
    body = '{"agent_id":"agent-1","events":[%s]}' % ",".join(  # noqa: UP031
        p.json for p in buffer.pending_now(10)
    )
    events = IngestRequest.model_validate_json(body).events
    alarm = events[0]
    assert alarm.event_id == "agent-1:1"
    assert alarm.type is EventType.ALARM_RAISED
    assert alarm.value == 99.5
    assert alarm.severity is Severity.HIGH
    assert alarm.quality is Quality.GOOD
    assert alarm.source_time == T0
    assert alarm.context == {"occurrence": "o1", "limit": 80.0, "note": 'quote " and \\ back'}
    # JSON keeps each value's type: bool stays bool, int stays int.
    assert [(e.value, type(e.value)) for e in events[1:]] == [
        (True, bool),
        (7, int),
        ("LOT-1", str),
        (None, type(None)),
    ]


def test_confirmed_events_leave_and_seq_keeps_rising_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    buffer = Buffer(path, "a")
    buffer.append_now([_value(1), _value(2), _value(3)])
    buffer.confirm_now(["a:1", "a:2", "a:3"])
    assert buffer.stats_now().depth == 0
    buffer.close()

    reopened = Buffer(path, "a")
    try:
        assert reopened.append_now([_value(4)]) == [4]  # never 1 again, even when empty
    finally:
        reopened.close()


def test_unconfirmed_events_survive_a_reopen_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    buffer = Buffer(path, "a")
    buffer.append_now([_value(1), _alarm()])
    written = buffer.events_now(10)
    buffer.close()
    reopened = Buffer(path, "a")
    try:
        assert reopened.events_now(10) == written
    finally:
        reopened.close()


def test_rejected_events_move_to_dead_letters_with_reason(buffer: Buffer) -> None:
    buffer.append_now([_value(1), _value(2)])
    buffer.dead_letter_now({"agent-1:1": "tag unknown"})
    assert [p.event_id for p in buffer.pending_now(10)] == ["agent-1:2"]
    assert buffer.dead_letters_now() == [(1, "tag unknown")]
    assert buffer.stats_now().dead_letters == 1


def test_backlog_drains_oldest_first_but_live_values_get_a_quarter(buffer: Buffer) -> None:
    buffer.append_now([_value(n) for n in range(100)])
    buffer.append_now([_alarm()])
    seqs = [int(p.event_id.split(":")[1]) for p in buffer.pending_now(9)]
    # The alarm, then the 6 oldest values, then the 2 newest (in order).
    assert seqs == [101, 1, 2, 3, 4, 5, 6, 99, 100]


def test_small_backlog_is_sent_whole_without_repeats(buffer: Buffer) -> None:
    buffer.append_now([_value(n) for n in range(5)])
    assert [p.event_id for p in buffer.pending_now(8)] == [f"agent-1:{n}" for n in range(1, 6)]


def test_full_buffer_drops_oldest_routine_first_and_counts_it(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path / "b.sqlite", "a", max_bytes=1024 * 1024)
    try:
        alarms = buffer.append_now([_alarm() for _ in range(50)])
        padding = "x" * 400
        for start in range(0, 6000, 500):
            buffer.append_now([_value(f"{n}{padding}") for n in range(start, start + 500)])
        stats = buffer.stats_now()
        assert stats.dropped_routine > 0
        assert stats.dropped_urgent == 0
        pending = buffer.events_now(100_000)
        kept = {e.seq for e in pending}
        assert set(alarms) <= kept  # every alarm kept
        values = sorted(e.seq for e in pending if e.type is EventType.VALUE)
        assert values == list(range(values[0], 50 + 6000 + 1))  # the newest survive, no holes
        assert stats.depth + stats.dropped_routine == 50 + 6000
    finally:
        buffer.close()


def test_alarms_are_dropped_only_when_nothing_routine_is_left(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path / "b.sqlite", "a", max_bytes=1024 * 1024)
    try:
        big = Draft(EventType.ALARM_RAISED, T0, tag="t", context={"pad": "y" * 2000})
        for _ in range(10):
            buffer.append_now([big] * 100)
        stats = buffer.stats_now()
        assert stats.dropped_urgent > 0
        assert stats.depth + stats.dropped_urgent == 1000
        assert buffer.events_now(1)[0].seq == stats.dropped_urgent + 1  # oldest went first
    finally:
        buffer.close()


def test_drop_counters_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    buffer = Buffer(path, "a", max_bytes=1024 * 1024)
    buffer.append_now([_value("z" * 3000) for _ in range(600)])
    dropped = buffer.stats_now().dropped_routine
    buffer.close()
    assert dropped > 0
    reopened = Buffer(path, "a", max_bytes=1024 * 1024)
    try:
        assert reopened.stats_now().dropped_routine == dropped
    finally:
        reopened.close()


def test_file_is_wal(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    Buffer(path, "a").close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
