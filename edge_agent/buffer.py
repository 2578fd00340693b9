"""The durable store-and-forward buffer: an outbox table in one SQLite file (WAL).

fsync policy: ``synchronous=FULL``, so ``append`` returns only once its transaction is on disk;
a power cut after that loses nothing, and an append that had not returned was never reported as
durable. One transaction per appended batch keeps this fast (one fsync per scan, not per event).
Sequence numbers come from a counter stored in the same transaction, so they rise strictly
across restarts and an event id (``agent_id:seq``) is never reused.

The file is bounded: when the rows in use pass ``max_bytes``, the oldest routine events (values,
health) are dropped first; urgent ones (alarms, state, communication, command results) go only
when nothing routine is left. Every drop is counted, durably, for the health event.

All SQLite work runs on one dedicated thread: the event loop never waits on an fsync.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, ParamSpec, TypeVar

from protocols.wire import (
    Category,
    Event,
    EventType,
    Quality,
    Scalar,
    Severity,
    utc_now,
)

P = ParamSpec("P")
T = TypeVar("T")

URGENT = 0
"""Priority of alarm, state, communication and command events: sent first, dropped last."""
ROUTINE = 1

_ROUTINE_TYPES = {EventType.VALUE, EventType.HEALTH}
_COLUMNS = (
    "seq, type, tag, value, quality, source_time, agent_time, rule, severity, category, context"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES
    ('next_seq', 1), ('dropped_routine', 0), ('dropped_urgent', 0);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    priority INTEGER NOT NULL,
    type TEXT NOT NULL,
    tag TEXT,
    value TEXT NOT NULL,          -- JSON, so bool, int, float and text keep their type
    quality TEXT NOT NULL,
    source_time TEXT NOT NULL,
    agent_time TEXT NOT NULL,
    rule TEXT,
    severity TEXT,
    category TEXT,
    context TEXT NOT NULL         -- JSON object
);
CREATE INDEX IF NOT EXISTS outbox_by_priority ON outbox (priority, seq);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letter (
    seq INTEGER PRIMARY KEY,
    event TEXT NOT NULL,
    reason TEXT NOT NULL,
    rejected_at TEXT NOT NULL
);
"""
CACHE_KIB = 512
_DROP_CHUNK = 0.05
"""Share of the outbox dropped at once when over the bound, so a full disk is not rechecked
for every single append."""


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


class Pending(NamedTuple):
    """An event waiting in the outbox, already in its wire form (JSON of ``wire.Event``)."""

    event_id: str
    json: str
    urgent: bool


@dataclass(frozen=True, slots=True)
class BufferStats:
    depth: int
    oldest_source_time: str | None
    dropped_routine: int
    dropped_urgent: int
    dead_letters: int


class Buffer:
    """The agent's outbox. Events leave it only when the hub confirms them (or rejects them).

    Args:
        path: The SQLite file; created with its folder if missing, never re-created.
        agent_id: Stamped on every event.
        max_bytes: Bound of the space the outbox may use; see the module docstring.
        clock: Returns the current UTC time; tests pass their own.
    """

    def __init__(
        self,
        path: Path,
        agent_id: str,
        max_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.agent_id = agent_id
        self.max_bytes = max_bytes
        self._clock = clock
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="buffer")
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # 512 KiB of page cache instead of 2 MiB: appends and drains touch the two ends of
        # the outbox, and the OS caches the file anyway (bench_buffer.py: no slower).
        self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self._db.executescript(_SCHEMA)
        (self._page_size,) = self._db.execute("PRAGMA page_size").fetchone()

    async def _run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: func(*args, **kwargs))

    async def append(
        self, drafts: Sequence[Draft], state: Mapping[str, str] | None = None
    ) -> list[int]:
        """Make the drafts durable; returns their sequence numbers once they are on disk.

        ``state`` (key -> text) is saved in the same transaction, so what the agent remembers
        (alarm states, executed commands) never disagrees with what it has told the hub.
        """
        return await self._run(self.append_now, drafts, state)

    async def load_state(self, key: str) -> str | None:
        return await self._run(self.load_state_now, key)

    async def pending(self, limit: int) -> list[Pending]:
        """The next events to send; see ``pending_now``."""
        return await self._run(self.pending_now, limit)

    async def confirm(self, event_ids: Iterable[str]) -> None:
        """The hub has committed these (or already had them): drop them from the outbox."""
        await self._run(self.confirm_now, list(event_ids))

    async def dead_letter(self, rejected: dict[str, str]) -> None:
        """Move events the hub refused as invalid aside, with the reason, so they never block."""
        await self._run(self.dead_letter_now, rejected)

    async def stats(self) -> BufferStats:
        return await self._run(self.stats_now)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self._db.close()

    # The synchronous forms run on the buffer's thread (or in tests and benchmarks, directly).

    def append_now(
        self, drafts: Sequence[Draft], state: Mapping[str, str] | None = None
    ) -> list[int]:
        if not drafts and not state:
            return []
        agent_time = self._clock().isoformat()
        with _transaction(self._db) as db:
            if state:
                db.executemany(
                    "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", state.items()
                )
            (first,) = db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
            db.executemany(
                "INSERT INTO outbox (priority, " + _COLUMNS + ") "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_row(first + offset, d, agent_time) for offset, d in enumerate(drafts)],
            )
            db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (first + len(drafts),))
            self._enforce_bound(db)
        return list(range(first, first + len(drafts)))

    def load_state_now(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def pending_now(self, limit: int) -> list[Pending]:
        """Urgent events first (oldest first); then routine ones, oldest first, but a quarter of
        the room goes to the newest, so live values still flow while a backlog drains."""
        urgent = self._select("WHERE priority = 0 ORDER BY seq LIMIT ?", limit)
        room = limit - len(urgent)
        if room <= 0:
            return urgent
        oldest = self._select("WHERE priority = 1 ORDER BY seq LIMIT ?", room - room // 4)
        newest = self._select(
            "WHERE priority = 1 AND seq > ? ORDER BY seq DESC LIMIT ?",
            self._seq(oldest[-1].event_id) if oldest else 0,
            room - len(oldest),
        )
        return urgent + oldest + newest[::-1]

    def events_now(self, limit: int) -> list[Event]:
        """``pending_now`` as validated wire events (for tests and tools, not the hot path)."""
        return [Event.model_validate_json(p.json) for p in self.pending_now(limit)]

    def confirm_now(self, event_ids: list[str]) -> None:
        seqs = [(self._seq(event_id),) for event_id in event_ids]
        with _transaction(self._db) as db:
            db.executemany("DELETE FROM outbox WHERE seq = ?", seqs)

    def dead_letter_now(self, rejected: dict[str, str]) -> None:
        now = self._clock().isoformat()
        with _transaction(self._db) as db:
            for event_id, reason in rejected.items():
                seq = self._seq(event_id)
                for pending in self._select("WHERE seq = ?", seq):
                    db.execute(
                        "INSERT OR REPLACE INTO dead_letter (seq, event, reason, rejected_at) "
                        "VALUES (?, ?, ?, ?)",
                        (seq, pending.json, reason, now),
                    )
                db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def stats_now(self) -> BufferStats:
        depth, oldest = self._db.execute("SELECT count(*), min(source_time) FROM outbox").fetchone()
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        (dead,) = self._db.execute("SELECT count(*) FROM dead_letter").fetchone()
        return BufferStats(
            depth=int(depth),
            oldest_source_time=oldest,
            dropped_routine=int(meta["dropped_routine"]),
            dropped_urgent=int(meta["dropped_urgent"]),
            dead_letters=int(dead),
        )

    def dead_letters_now(self) -> list[tuple[int, str]]:
        rows = self._db.execute("SELECT seq, reason FROM dead_letter ORDER BY seq")
        return [(int(seq), str(reason)) for seq, reason in rows]

    def _enforce_bound(self, db: sqlite3.Connection) -> None:
        """Drop the oldest rows, routine before urgent, until the outbox fits ``max_bytes``."""
        for priority, counter in ((ROUTINE, "dropped_routine"), (URGENT, "dropped_urgent")):
            while self._bytes_in_use(db) > self.max_bytes:
                (rows,) = db.execute(
                    "SELECT count(*) FROM outbox WHERE priority = ?", (priority,)
                ).fetchone()
                if rows == 0:
                    break
                chunk = max(1, int(rows * _DROP_CHUNK))
                db.execute(
                    "DELETE FROM outbox WHERE seq IN "
                    "(SELECT seq FROM outbox WHERE priority = ? ORDER BY seq LIMIT ?)",
                    (priority, chunk),
                )
                db.execute(
                    "UPDATE meta SET value = value + ? WHERE key = ?", (min(chunk, rows), counter)
                )

    def _bytes_in_use(self, db: sqlite3.Connection) -> int:
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        (free,) = db.execute("PRAGMA freelist_count").fetchone()
        return int(pages - free) * int(self._page_size)

    def _select(self, where: str, *args: Any) -> list[Pending]:
        rows = self._db.execute(f"SELECT priority, {_COLUMNS} FROM outbox {where}", args)
        return [self._pending(row) for row in rows]

    def _seq(self, event_id: str) -> int:
        agent, _, seq = event_id.rpartition(":")
        if agent != self.agent_id or not seq.isdigit():
            raise ValueError(f"event {event_id!r} is not one of agent {self.agent_id!r}")
        return int(seq)

    def _pending(self, row: tuple[Any, ...]) -> Pending:
        """The wire JSON straight from the columns: value and context are stored as JSON, the
        enums and timestamps as their JSON strings, so only free text needs escaping. Building
        it here keeps a drain of a long backlog cheap; the hub validates every event strictly."""
        priority, seq, kind, tag, value, quality, source, agent, rule, severity, category, ctx = row
        event_id = f"{self.agent_id}:{seq}"
        text = (
            f'{{"event_id":"{event_id}","agent_id":"{self.agent_id}","seq":{seq},'
            f'"type":"{kind}","tag":{_json_text(tag)},"value":{value},"quality":"{quality}",'
            f'"source_time":"{source}","agent_time":"{agent}","rule":{_json_text(rule)},'
            f'"severity":{_json_text(severity)},"category":{_json_text(category)},'
            f'"context":{ctx}}}'
        )
        return Pending(event_id, text, priority == URGENT)


def _json_text(value: str | None) -> str:
    return "null" if value is None else json.dumps(value)


def _row(seq: int, draft: Draft, agent_time: str) -> tuple[Any, ...]:
    priority = ROUTINE if draft.type in _ROUTINE_TYPES else URGENT
    return (
        priority,
        seq,
        draft.type.value,
        draft.tag,
        _json_scalar(draft.value),
        draft.quality.value,
        draft.source_time.isoformat(),
        agent_time,
        draft.rule,
        None if draft.severity is None else draft.severity.value,
        None if draft.category is None else draft.category.value,
        json.dumps(draft.context, allow_nan=False) if draft.context else "{}",
    )


def _json_scalar(value: Scalar) -> str:
    """JSON text of one scalar; ``repr`` of a finite float or an int is already JSON."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int) or (isinstance(value, float) and value - value == 0.0):
        return repr(value)
    if isinstance(value, float):
        return "null"  # NaN or infinity: no number at all, and JSON cannot carry it
    return json.dumps(value)


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (autocommit mode otherwise)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
