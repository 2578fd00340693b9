"""The durable store-and-forward buffer: an outbox table in one SQLite file (WAL).

fsync policy: ``synchronous=FULL``, so ``append`` returns only once its transaction is on disk;
a power cut after that loses nothing, and an append that had not returned was never reported as
durable. One transaction per appended batch keeps this fast (fsync per batch, not per event).
Sequence numbers come from a counter stored in the same transaction, so they rise strictly
across restarts and an event id (``agent_id:seq``) is never reused.

All SQLite work runs on one dedicated thread: the event loop never waits on an fsync.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

from protocols.wire import (
    Category,
    Event,
    EventType,
    Quality,
    Scalar,
    Severity,
    event_id_for,
    utc_now,
)

P = ParamSpec("P")
T = TypeVar("T")

URGENT = 0
"""Priority of alarm, state and communication events: sent before any value event."""
ROUTINE = 1

_ROUTINE_TYPES = {EventType.VALUE, EventType.HEALTH}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('next_seq', 1);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    priority INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_priority ON outbox (priority, seq);
CREATE TABLE IF NOT EXISTS dead_letter (
    seq INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    reason TEXT NOT NULL,
    rejected_at TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Draft:
    """An event before the buffer has given it a sequence number."""

    type: EventType
    source_time: datetime
    tag: str | None = None
    value: Scalar = None
    quality: Quality = Quality.GOOD
    rule: str | None = None
    severity: Severity | None = None
    category: Category | None = None
    context: dict[str, Scalar] = field(default_factory=dict)


class Buffer:
    """The agent's outbox. Events leave it only when the hub confirms them (or rejects them).

    Args:
        path: The SQLite file; created with its folder if missing, never re-created.
        agent_id: Stamped on every event.
        clock: Returns the current UTC time; tests pass their own.
    """

    def __init__(self, path: Path, agent_id: str, clock: Callable[[], datetime] = utc_now) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.agent_id = agent_id
        self._clock = clock
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="buffer")
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    async def _run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: func(*args, **kwargs))

    async def append(self, drafts: Sequence[Draft]) -> list[Event]:
        """Make the drafts durable events; returns them once they are on disk."""
        return await self._run(self.append_now, drafts)

    async def pending(self, limit: int) -> list[Event]:
        """The next events to send: urgent ones first, then oldest first."""
        return await self._run(self.pending_now, limit)

    async def confirm(self, event_ids: Iterable[str]) -> None:
        """The hub has committed these (or already had them): drop them from the outbox."""
        await self._run(self.confirm_now, list(event_ids))

    async def dead_letter(self, rejected: dict[str, str]) -> None:
        """Move events the hub refused as invalid aside, with the reason, so they never block."""
        await self._run(self.dead_letter_now, rejected)

    async def depth(self) -> int:
        return await self._run(self.depth_now)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self._db.close()

    # The synchronous forms run on the buffer's thread (or in tests, directly).

    def append_now(self, drafts: Sequence[Draft]) -> list[Event]:
        if not drafts:
            return []
        agent_time = self._clock()
        with self._transaction() as db:
            (first,) = db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
            events = [
                self._event(first + offset, draft, agent_time)
                for offset, draft in enumerate(drafts)
            ]
            db.executemany(
                "INSERT INTO outbox (seq, priority, body) VALUES (?, ?, ?)",
                [(e.seq, _priority(e.type), e.model_dump_json()) for e in events],
            )
            db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (first + len(events),))
        return events

    def pending_now(self, limit: int) -> list[Event]:
        rows = self._db.execute(
            "SELECT body FROM outbox ORDER BY priority, seq LIMIT ?", (limit,)
        ).fetchall()
        return [Event.model_validate_json(body) for (body,) in rows]

    def confirm_now(self, event_ids: list[str]) -> None:
        seqs = [(self._seq(event_id),) for event_id in event_ids]
        with self._transaction() as db:
            db.executemany("DELETE FROM outbox WHERE seq = ?", seqs)

    def dead_letter_now(self, rejected: dict[str, str]) -> None:
        now = self._clock().isoformat()
        with self._transaction() as db:
            for event_id, reason in rejected.items():
                seq = self._seq(event_id)
                db.execute(
                    "INSERT OR REPLACE INTO dead_letter (seq, body, reason, rejected_at) "
                    "SELECT seq, body, ?, ? FROM outbox WHERE seq = ?",
                    (reason, now, seq),
                )
                db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def depth_now(self) -> int:
        (count,) = self._db.execute("SELECT count(*) FROM outbox").fetchone()
        return int(count)

    def dead_letters_now(self) -> list[tuple[int, str]]:
        return [
            (int(seq), str(reason))
            for seq, reason in self._db.execute("SELECT seq, reason FROM dead_letter ORDER BY seq")
        ]

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _seq(self, event_id: str) -> int:
        agent, _, seq = event_id.rpartition(":")
        if agent != self.agent_id or not seq.isdigit():
            raise ValueError(f"event {event_id!r} is not one of agent {self.agent_id!r}")
        return int(seq)

    def _event(self, seq: int, draft: Draft, agent_time: datetime) -> Event:
        return Event(
            event_id=event_id_for(self.agent_id, seq),
            agent_id=self.agent_id,
            seq=seq,
            type=draft.type,
            tag=draft.tag,
            value=draft.value,
            quality=draft.quality,
            source_time=draft.source_time,
            agent_time=agent_time,
            rule=draft.rule,
            severity=draft.severity,
            category=draft.category,
            context=draft.context,
        )


def _priority(event_type: EventType) -> int:
    return ROUTINE if event_type in _ROUTINE_TYPES else URGENT


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (autocommit mode otherwise)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
