"""The ingest write path: concurrent batches share one transaction, de-duplicated by seq runs.

Each batch waits for the commit of the transaction that stores it (the reply follows it). A
commit costs a few milliseconds whatever its size, so batches that arrive while one is being
written are stored together in the next transaction (group commit): one request leads, writing
everything queued by then, the others wait for their share of the result. A group's events
go in with one INSERT and its live values with one MERGE, however many batches it has (DuckDB
plans every statement anew, 1-3 ms each here: more than writing a small batch's rows). If a
group fails, its batches are written again one per transaction, so one bad batch fails alone.

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
from hub.storage.event_json import Rows
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
        planned = []
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
            planned.append(_Planned(batch, new, frozenset(duplicates)))
        _store_events(conn, [p for p in planned if p.new])
        stored = [_apply_results(conn, p) for p in planned]
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


@dataclass(frozen=True)
class _Planned:
    """A batch of a group, its events split by the seq index."""

    batch: Prepared
    new: list[Event]
    """The events not stored yet, in batch order."""
    duplicates: frozenset[int]
    """Seqs of ``batch.unique`` stored already, by an earlier transaction or batch."""


def _store_events(conn: Connection, writing: list[_Planned]) -> None:
    """Store the new events of a group and their current values, a statement each."""
    if not writing:
        return
    repository.insert_events(
        conn, [Rows(p.batch.doc, p.batch.received_at, _new_flags(p)) for p in writing]
    )
    newest = _newest_seqs(writing)
    current = [
        Rows(p.batch.doc, p.batch.received_at, flags)
        for p in writing
        if any(flags := _newest_flags(p, newest[p.batch.agent_id]))
    ]
    if current:
        values.store_newest(conn, current)


def _newest_seqs(writing: list[_Planned]) -> dict[str, frozenset[int]]:
    """Per agent, the seqs of ``values.newest`` of its new events in the group."""
    by_agent: dict[str, list[_Planned]] = {}
    for planned in writing:
        by_agent.setdefault(planned.batch.agent_id, []).append(planned)
    newest: dict[str, frozenset[int]] = {}
    for agent_id, plans in by_agent.items():
        only = plans[0].batch
        if len(plans) == 1 and only.newest_seqs.isdisjoint(plans[0].duplicates):
            newest[agent_id] = only.newest_seqs  # worked out by prepare, off this thread
        else:
            # A stored event was the newest of its tag, or the agent has several batches here:
            # the newest among all its new ones counts (the update takes one row per tag).
            new = [event for planned in plans for event in planned.new]
            newest[agent_id] = frozenset(event.seq for event in values.newest(new))
    return newest


def _new_flags(planned: _Planned) -> list[bool] | None:
    """A flag per event of the batch: not stored yet; None if none is."""
    duplicates = planned.duplicates
    return [e.seq not in duplicates for e in planned.batch.unique] if duplicates else None


def _newest_flags(planned: _Planned, newest: frozenset[int]) -> list[bool]:
    """A flag per event of the batch: new, and the newest of its tag (seq in ``newest``)."""
    duplicates = planned.duplicates
    return [e.seq in newest and e.seq not in duplicates for e in planned.batch.unique]


def _apply_results(conn: Connection, planned: _Planned) -> Stored:
    """Alarm transitions and command results of one batch's new events, then its reply's
    commands; after ``_store_events``, in the same transaction."""
    batch, new = planned.batch, planned.new
    changes: alarms.Published = []
    if new:
        changes = alarms.apply_events(conn, new, batch.received_at)
        commands.apply_results(conn, batch.agent_id, new, batch.received_at)
    # Read after the results are applied: a command answered in this batch is not resent.
    return Stored(planned.duplicates, commands.pending_for(conn, batch.agent_id), changes)


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
