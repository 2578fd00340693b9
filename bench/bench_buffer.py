"""Durable enqueue into the agent buffer vs raw sqlite3 executemany with the same settings.

Both write batches of BATCH rows per transaction into a WAL file with synchronous=FULL.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from edge_agent.buffer import Buffer, Draft
from protocols.wire import EventType

EVENTS = 200_000
BATCH = 500


def raw_sqlite(path: Path, bodies: list[str]) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY, priority INTEGER, body TEXT)")
    started = time.perf_counter()
    for start in range(0, len(bodies), BATCH):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO outbox (seq, priority, body) VALUES (?, 1, ?)",
            [(start + i + 1, body) for i, body in enumerate(bodies[start : start + BATCH])],
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return len(bodies) / elapsed


def buffer_append(path: Path, drafts: list[Draft]) -> float:
    buffer = Buffer(path, "bench")
    started = time.perf_counter()
    for start in range(0, len(drafts), BATCH):
        buffer.append_now(drafts[start : start + BATCH])
    elapsed = time.perf_counter() - started
    buffer.close()
    return len(drafts) / elapsed


def main() -> None:
    now = datetime.now(UTC)
    drafts = [
        Draft(EventType.VALUE, now, tag=f"line1.tag{i % 1000}", value=float(i))
        for i in range(EVENTS)
    ]
    with tempfile.TemporaryDirectory() as folder:
        probe = Buffer(Path(folder) / "probe.sqlite", "bench")
        bodies = [e.model_dump_json() for e in probe.append_now(drafts)]
        probe.close()
        raw = raw_sqlite(Path(folder) / "raw.sqlite", bodies)
        ours = buffer_append(Path(folder) / "buffer.sqlite", drafts)
    print(f"events: {EVENTS}, batch: {BATCH}, WAL, synchronous=FULL")
    print(f"raw sqlite3 executemany : {raw:12,.0f} rows/s")
    print(f"Buffer.append           : {ours:12,.0f} events/s  ({ours / raw:.0%} of raw)")


if __name__ == "__main__":
    main()
