"""Property: whatever the interleaving of appends, sends, failed sends, replies lost after
the hub committed, and restarts, every event reaches the hub, none is stored twice, ids are
never reused, and urgent events lead every batch."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.buffer import Buffer, Draft
from protocols.wire import EventType

T0 = datetime(2026, 1, 1, tzinfo=UTC)

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 6), st.booleans()),
        st.tuples(st.just("send"), st.integers(1, 8), st.booleans()),
        st.tuples(st.just("send_fails"), st.integers(1, 8), st.booleans()),
        st.tuples(st.just("reply_lost"), st.integers(1, 8), st.booleans()),
        st.tuples(st.just("restart"), st.just(0), st.booleans()),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops=OPS)
def test_nothing_lost_nothing_duplicated_ids_never_reused(ops: list) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "agent.sqlite"
        buffer = Buffer(path, "a")
        made: list[int] = []  # every seq the buffer handed out, in order
        hub: dict[str, int] = {}  # event id -> times offered (the hub stores each once)
        try:
            for op, n, urgent in ops:
                if op == "append":
                    kind = EventType.ALARM_RAISED if urgent else EventType.VALUE
                    made += buffer.append_now([Draft(kind, T0, tag="t", value=i) for i in range(n)])
                elif op == "restart":
                    buffer.close()
                    buffer = Buffer(path, "a")
                else:
                    batch = buffer.pending_now(n)
                    ids = [p.event_id for p in batch]
                    assert len(ids) == len(set(ids))
                    flags = [p.urgent for p in batch]
                    assert flags == sorted(flags, reverse=True)  # urgent first
                    if op in ("send", "reply_lost"):  # the hub committed the batch
                        for event_id in ids:
                            hub[event_id] = hub.get(event_id, 0) + 1
                    if op == "send":
                        buffer.confirm_now(ids)
            while batch := buffer.pending_now(7):  # the link comes back for good
                for pending in batch:
                    hub[pending.event_id] = hub.get(pending.event_id, 0) + 1
                buffer.confirm_now([p.event_id for p in batch])
        finally:
            buffer.close()
    assert made == sorted(set(made))  # strictly rising across restarts
    assert set(hub) == {f"a:{seq}" for seq in made}  # nothing lost, nothing invented
