"""Durable enqueue into the agent buffer vs raw sqlite3 executemany with the same settings.

Both write batches of BATCH rows per transaction into a WAL file with synchronous=FULL.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from edge_agent.buffer import _COLUMNS, _SCHEMA, Buffer, Draft, _row
from protocols.wire import EventType

EVENTS = 200_000
BATCH = 500
ROUNDS = 3


def raw_sqlite(path: Path, rows: list[tuple[object, ...]]) -> float:
    """The ceiling: the same rows, already built, into the same table, same settings."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(_SCHEMA)
    insert = f"INSERT INTO outbox (priority, {_COLUMNS}) VALUES ({', '.join(['?'] * 12)})"
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(insert, rows[start : start + BATCH])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return len(rows) / elapsed


def buffer_append(path: Path, drafts: list[Draft]) -> float:
    buffer = Buffer(path, "bench")
    started = time.perf_counter()
    for start in range(0, len(drafts), BATCH):
        buffer.append_now(drafts[start : start + BATCH])
    elapsed = time.perf_counter() - started
    buffer.close()
    return len(drafts) / elapsed


def buffer_drain(path: Path) -> float:
    """Reading events back and confirming them, as the forwarder does (without the network)."""
    buffer = Buffer(path, "bench")
    started = time.perf_counter()
    drained = 0
    while batch := buffer.pending_now(1000):
        buffer.confirm_now([event.event_id for event in batch])
        drained += len(batch)
    elapsed = time.perf_counter() - started
    buffer.close()
    return drained / elapsed


def main() -> None:
    now = datetime.now(UTC)
    drafts = [
        Draft(EventType.VALUE, now, tag=f"line1.tag{i % 1000}", value=float(i))
        for i in range(EVENTS)
    ]
    agent_time = now.isoformat()
    rows = [_row(seq, draft, agent_time) for seq, draft in enumerate(drafts, start=1)]
    raw, ours, drain = [], [], []
    # Alternate and keep the best of each: the CPU speed of these machines changes within minutes.
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory() as folder:
            raw.append(raw_sqlite(Path(folder) / "raw.sqlite", rows))
            ours.append(buffer_append(Path(folder) / "buffer.sqlite", drafts))
            drain.append(buffer_drain(Path(folder) / "buffer.sqlite"))
    best_raw, best_ours = max(raw), max(ours)
    print(f"events: {EVENTS}, batch: {BATCH}, WAL, synchronous=FULL, best of {ROUNDS}")
    print(f"raw sqlite3 executemany : {best_raw:12,.0f} rows/s (rows built in advance)")
    print(
        f"Buffer.append           : {best_ours:12,.0f} events/s ({best_ours / best_raw:.0%} of raw)"
    )
    print(f"Buffer pending+confirm  : {max(drain):12,.0f} events/s (wire JSON, batches of 1,000)")


if __name__ == "__main__":
    main()
