"""The ingest write path: concurrent batches share one transaction, de-duplicated by seq runs.

Each batch waits for the commit of the transaction that stores it (the reply follows it). A
commit costs a few milliseconds whatever its size, so batches that arrive while one is being
written are stored together in the next transaction (group commit): one request leads, writing
everything queued by then, the others wait for their share of the result. If a group fails,
its batches are written again one per transaction, so one bad batch fails alone.

Duplicates are found in a ``SeqIndex`` of the seqs stored per agent, loaded by the first write
and changed only after a commit (``Database.write``'s ``after_commit``, on the writer thread,
before any other write): what it says is always what is committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from hub.alarms import service as alarms
from hub.commands import service as commands
from hub.ingest import repository
from hub.ingest.prepare import Prepared
from hub.ingest.seqs import RunChange, SeqIndex
from hub.storage import Connection, Database
from hub.values import service as values
from protocols.wire import Command, Event

logger = logging.getLogger(__name__)

MAX_GROUP_EVENTS = 20_000
"""Events per transaction at most (a batch larger than this goes alone): bounds the wait of
the first batch of a group."""


@dataclass(frozen=True)
class Stored:
    """What the commit did with one batch."""

    duplicate_seqs: frozenset[int]
    """Seqs of ``Prepared.unique`` that were stored already (by an earlier batch)."""
    commands: list[Command]
    """The agent's pending commands, read after this batch's results were applied."""
    alarm_changes: alarms.Published


@dataclass
class _GroupResult:
    stored: list[Stored]
    changes: list[RunChange]


@dataclass(eq=False)
class _Waiting:
    batch: Prepared
    future: asyncio.Future[Stored] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class IngestWriter:
    """Stores prepared batches for one hub app (the lifespan's ``Resources`` holds one).

    Args:
        max_group_events: events per transaction at most.
    """

    def __init__(self, max_group_events: int = MAX_GROUP_EVENTS) -> None:
        self.max_group_events = max_group_events
        self._index: SeqIndex | None = None  # touched on the writer thread only
        self._queue: deque[_Waiting] = deque()
        self._lead = asyncio.Lock()

    async def store(self, db: Database, batch: Prepared) -> Stored:
        """Store ``batch`` (nothing already stored twice); return after the commit."""
        waiting = _Waiting(batch)
        self._queue.append(waiting)
        try:
            # FIFO: whoever holds the lock writes everything queued; a batch written meanwhile
            # by an earlier holder finds its future done and passes straight through.
            async with self._lead:
                while not waiting.future.done():
                    await self._write(db, self._next_group())
            return waiting.future.result()
        finally:
            if not waiting.future.done():  # cancelled before it was written: withdraw it
                waiting.future.cancel()
                if waiting in self._queue:
                    self._queue.remove(waiting)

    def _next_group(self) -> list[_Waiting]:
        group = [self._queue.popleft()]
        size = len(group[0].batch.unique)
        while self._queue and size + len(self._queue[0].batch.unique) <= self.max_group_events:
            size += len(self._queue[0].batch.unique)
            group.append(self._queue.popleft())
        return group

    async def _write(self, db: Database, group: list[_Waiting]) -> None:
        """Write ``group`` and settle every future in it; raises only if cancelled."""
        batches = [w.batch for w in group]
        write = db.submit_write(lambda conn: self._commit(conn, batches), after_commit=self._apply)
        try:
            # Shielded: if this request is cancelled, the write and the others' replies go on.
            result = await asyncio.shield(write)
        except asyncio.CancelledError:
            write.add_done_callback(lambda done: _settle(group, done))
            raise
        except Exception as exc:
            if len(group) == 1:
                _fail(group[0], exc)
                return
            logger.warning("group of %d ingest batches failed (%s); writing them one by one",
                           len(group), exc)  # fmt: skip
            for waiting in group:
                await self._write(db, [waiting])
            return
        for waiting, stored in zip(group, result.stored, strict=True):
            if not waiting.future.done():
                waiting.future.set_result(stored)

    # On the writer thread, inside the transaction.
    def _commit(self, conn: Connection, batches: Sequence[Prepared]) -> _GroupResult:
        if self._index is None:
            self._index = SeqIndex(repository.load_seq_runs(conn))
        index = self._index
        claimed: dict[str, set[int]] = {}  # seqs stored by earlier batches of this group
        stored = []
        for batch in batches:
            taken = claimed.setdefault(batch.agent_id, set())
            seqs = batch.seqs
            duplicates = index.stored(batch.agent_id, seqs)
            if taken:
                duplicates |= taken.intersection(seqs)
            new = batch.unique
            if duplicates:
                new = [e for e in batch.unique if e.seq not in duplicates]
            taken.update(e.seq for e in new)
            stored.append(_store(conn, batch, new, frozenset(duplicates)))
        changes = [
            change
            for agent_id, seqs in claimed.items()
            if (change := index.plan(agent_id, seqs)) is not None
        ]
        repository.save_seq_runs(conn, changes)
        return _GroupResult(stored, changes)

    def _apply(self, result: _GroupResult) -> None:
        assert self._index is not None  # loaded by _commit
        self._index.apply(result.changes)


def _store(
    conn: Connection, batch: Prepared, new: list[Event], duplicates: frozenset[int]
) -> Stored:
    changes: alarms.Published = []
    if new:
        keep = [e.seq not in duplicates for e in batch.unique] if duplicates else None
        repository.insert_events(conn, batch.doc, keep, batch.received_at)
        candidates, doc = batch.newest_values, batch.values_doc
        if any(e.seq in duplicates for e in candidates):
            # A stored event was the newest of its tag: the newest among the new ones counts.
            candidates = values.newest(new)
            doc = values.dump_newest(batch.agent_id, candidates)
        if candidates:
            values.store_newest(conn, doc, batch.received_at)
        changes = alarms.apply_events(conn, new, batch.received_at)
        commands.apply_results(conn, batch.agent_id, new, batch.received_at)
    # Read after the results are applied: a command answered in this batch is not resent.
    return Stored(duplicates, commands.pending_for(conn, batch.agent_id), changes)


def _settle(group: list[_Waiting], write: asyncio.Future[_GroupResult]) -> None:
    """Hand the result of a write whose leader stopped waiting to the rest of its group."""
    if write.cancelled():
        error: BaseException = asyncio.CancelledError()
    elif (exc := write.exception()) is not None:
        error = exc
    else:
        for waiting, stored in zip(group, write.result().stored, strict=True):
            if not waiting.future.done():
                waiting.future.set_result(stored)
        return
    for waiting in group:
        _fail(waiting, error)


def _fail(waiting: _Waiting, error: BaseException) -> None:
    if not waiting.future.done():
        waiting.future.set_exception(error)
