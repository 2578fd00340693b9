"""The ingest write path: de-duplicate by seq runs, make durable, load into DuckDB behind.

A batch of plain events (values, states, health, drift, link changes) is appended to the
journal (``hub.ingest.journal``) and its reply waits for the disk, not for DuckDB; the loader
task moves the journal into DuckDB a segment per transaction, so the fixed cost of a DuckDB
statement (several milliseconds) is paid per segment, however many batches it holds. A batch
with events that change other state (alarm transitions, command results) is written straight
to DuckDB in one transaction with those changes, without waiting for the journal to be loaded
(readers that need the events sent before it wait for ``settled``): its reply then carries the
alarm changes and the commands it answered are not sent again.

Duplicates are found in two ``SeqIndex``es of the seqs stored per agent: ``live`` (journal and
DuckDB, asked on every batch) and ``loaded`` (DuckDB only, the runs saved in
``event_seq_ranges`` with the events they cover, so they never claim a seq a crash could lose).
``settled`` is the barrier for readers that must see every acknowledged event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from hub.alarms import service as alarms
from hub.commands import service as commands
from hub.ingest import repository
from hub.ingest.journal import Journal, Segment, leftover_segments, line_of, set_aside
from hub.ingest.prepare import Prepared
from hub.ingest.seqs import RunChange, SeqIndex
from hub.storage import Connection, Database
from hub.storage.event_json import Rows
from hub.values import service as values
from protocols.wire import Command

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 256 * 1024 * 1024
"""Far above the journal line of the largest body the hub takes (32 MiB)."""

LOAD_RETRY_SECONDS = 1.0


def journal_folder(db_path: Path) -> Path:
    """The journal of the database at ``db_path``: part of it (back both up together)."""
    return db_path.with_name(db_path.name + ".journal")


@dataclass(frozen=True)
class Stored:
    """What the write did with one batch."""

    duplicate_seqs: frozenset[int]
    """Seqs of ``Prepared.unique`` that were stored already (by an earlier batch)."""
    commands: list[Command]
    """The agent's pending commands, read after this batch's results were applied."""
    alarm_changes: alarms.Published = field(default_factory=list)


class IngestWriter:
    """Stores prepared batches for one hub app; ``open`` before use, ``close`` before the
    database closes (the lifespan does both)."""

    def __init__(self) -> None:
        self._db: Database | None = None
        self._journal: Journal | None = None
        self._live = SeqIndex()
        self._loaded = SeqIndex()
        self._taken: list[Segment] = []
        """Segments taken from the journal and not yet loaded, oldest first."""
        self._decide = asyncio.Lock()
        """Held while a batch is checked against ``live`` and appended (or written)."""
        self._load = asyncio.Lock()
        """Held by whatever writes to DuckDB: a load, or a transactional batch."""
        self._wake = asyncio.Event()
        self._closing = False
        self._loader: asyncio.Task[None] | None = None
        self._pending = commands.PendingGate()

    @property
    def unloaded_segments(self) -> int:
        """Journal segments not yet in DuckDB (for /metrics): the loader's backlog."""
        journal = self._journal
        return len(self._taken) + (1 if journal is not None and journal.has_lines else 0)

    async def open(self, db: Database) -> None:
        """Load what a previous run left in the journal, then start the loader."""
        folder = journal_folder(db.path)
        loaded, runs = await db.read(
            lambda cur: (repository.loaded_segment(cur), repository.load_seq_runs(cur))
        )
        self._db, self._loaded = db, SeqIndex(runs)
        leftovers = await asyncio.to_thread(leftover_segments, folder)
        for segment in leftovers:
            if segment.id <= loaded:  # loaded, but the hub stopped before deleting it
                await asyncio.to_thread(segment.path.unlink)
            else:
                await self._load_segment(db, segment)
        if leftovers:
            logger.info("ingest journal: %d segment(s) left by the last run loaded", len(leftovers))
        self._live = self._loaded.copy()
        self._journal = Journal(folder, max([loaded, *(s.id for s in leftovers)]) + 1)
        self._loader = asyncio.create_task(self._run_loader(), name="ingest-loader")

    async def close(self) -> None:
        """Stop the loader and load the rest of the journal."""
        self._closing = True
        self._wake.set()
        if self._loader is not None:
            await self._loader
        if self._db is not None and self._journal is not None:
            async with self._load:
                await self._load_journal(self._db, self._journal)
            self._journal.close()

    async def store(self, batch: Prepared) -> Stored:
        """Store ``batch`` (nothing already stored twice); return once it is durable."""
        # Shielded: a store that has begun runs to its end even if the request is cancelled,
        # so the index, the journal and DuckDB never disagree.
        return await asyncio.shield(self._store(batch))

    async def pending_for(self, agent_id: str) -> list[Command]:
        """The agent's pending commands, for an ingest reply."""
        db, _ = self._require()
        return await self._pending.pending_for(db, agent_id)

    async def settled(self) -> None:
        """Return once every event acknowledged so far is in DuckDB (for reads of events and
        live values that must see them)."""
        db, journal = self._require()
        async with self._load:
            await self._load_journal(db, journal)

    async def _store(self, batch: Prepared) -> Stored:
        db, journal = self._require()
        async with self._decide:
            duplicates = frozenset(self._live.stored(batch.agent_id, batch.unique))
            if batch.transactional - duplicates:
                return await self._write_now(db, journal, batch, duplicates)
            new = [seq for seq in batch.unique if seq not in duplicates]
            ticket = journal.position
            if new:
                keep = _new_flags(batch, duplicates)
                ticket = journal.append(line_of(batch.doc, batch.received_at, keep))
                change = self._live.plan(batch.agent_id, new)
                self._live.apply([change] if change else [])
                self._wake.set()
        # Outside the lock: later batches are appended while this one waits for the disk. A
        # batch of duplicates waits too, for the lines that hold its events.
        await journal.durable(ticket)
        return Stored(duplicates, await self.pending_for(batch.agent_id))

    async def _write_now(
        self, db: Database, journal: Journal, batch: Prepared, duplicates: frozenset[int]
    ) -> Stored:
        """One transaction for ``batch``'s events and their effects.

        It does not wait for the journal to be loaded (under load that took several segments,
        and DuckDB checkpoints, hundreds of milliseconds before an alarm reached anyone), only
        for a load already running: the seqs it adds are planned on ``loaded`` in the
        transaction (no load can change that index meanwhile) and on ``live`` here (no batch
        can, while the caller holds ``_decide``). The journal's older events of the agent
        follow within one segment; their live values never replace a newer one.
        """
        assert batch.events is not None  # carried whenever ``transactional`` is not empty
        new = [event for event in batch.events if event.seq not in duplicates]
        seqs = [event.seq for event in new]
        async with self._load:

            def work(conn: Connection) -> tuple[Stored, RunChange | None]:
                rows = Rows(batch.doc, batch.received_at, _new_flags(batch, duplicates))
                repository.insert_events(conn, [rows])
                newest = {e.seq for e in values.newest(new)}
                flags = [seq in newest for seq in batch.unique]
                if any(flags):
                    values.store_newest(conn, [Rows(batch.doc, batch.received_at, flags)])
                changes = alarms.apply_events(conn, new, batch.received_at)
                commands.apply_results(conn, batch.agent_id, new, batch.received_at)
                change = self._loaded.plan(batch.agent_id, seqs)
                repository.save_seq_runs(conn, [change] if change else [])
                # Read after the results are applied: a command answered here is not resent.
                pending = commands.pending_for(conn, batch.agent_id)
                return Stored(duplicates, pending, changes), change

            live_change = self._live.plan(batch.agent_id, seqs)
            stored, loaded_change = await db.write(work)
            self._loaded.apply([loaded_change] if loaded_change else [])
            self._live.apply([live_change] if live_change else [])
        if duplicates:
            # Some of its events may be in journal lines not yet synced: on disk first.
            await journal.durable(journal.position)
        return stored

    async def _run_loader(self) -> None:
        db, journal = self._require()
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            try:
                async with self._load:
                    await self._load_journal(db, journal)
            except Exception:
                # The segment stays first in line; nothing acknowledged is dropped.
                logger.exception("loading the ingest journal into the database failed; retrying")
                await asyncio.sleep(LOAD_RETRY_SECONDS)
                self._wake.set()

    async def _load_journal(self, db: Database, journal: Journal) -> None:
        """Take the current segment and load every taken one, oldest first (hold ``_load``)."""
        segment = await journal.take()
        if segment is not None:
            self._taken.append(segment)
        while self._taken:
            await self._load_segment(db, self._taken[0])
            self._taken.pop(0)

    async def _load_segment(self, db: Database, segment: Segment) -> None:
        """One transaction: the segment's events, live values and seq runs, and its id.

        If DuckDB cannot read a line (it never should: lines are written from validated
        events), that line is moved to the ``rejected`` folder beside the segments, logged, and
        the rest is loaded: one unreadable batch must not hold back every batch after it.
        """
        try:
            await self._load_whole(db, segment)
        except duckdb.Error:
            if not await self._set_aside_unreadable(db, segment):
                raise  # every line reads: the trouble is elsewhere, the loader retries
            await self._load_whole(db, segment)

    async def _set_aside_unreadable(self, db: Database, segment: Segment) -> int:
        """Move the lines of ``segment`` that DuckDB cannot read to ``rejected/``; return how
        many were moved."""
        lines = (await asyncio.to_thread(segment.path.read_bytes)).splitlines(keepends=True)
        check = segment.path.with_suffix(".check")
        bad: list[bytes] = []
        for line in lines:
            await asyncio.to_thread(check.write_bytes, line)
            try:
                await db.read(lambda cur: repository.check_lines(cur, str(check), MAX_LINE_BYTES))
            except duckdb.Error:
                bad.append(line)
        await asyncio.to_thread(check.unlink)
        if bad:
            kept = [line for line in lines if line not in bad]
            rejected = await asyncio.to_thread(set_aside, segment, bad, kept)
            logger.error(
                "ingest journal: %d unreadable batch(es) of segment %d moved to %s",
                len(bad), segment.id, rejected,
            )  # fmt: skip
        return len(bad)

    async def _load_whole(self, db: Database, segment: Segment) -> None:
        def work(conn: Connection) -> list[RunChange]:
            changes: list[RunChange] = []
            if segment.path.stat().st_size:  # empty once every line was set aside
                repository.stage_segment(conn, str(segment.path), MAX_LINE_BYTES)
                repository.insert_staged(conn)
                values.store_newest_of(conn, repository.STAGED)
                changes = [
                    change
                    for agent_id, runs in repository.staged_runs(conn).items()
                    if (change := self._loaded.plan_runs(agent_id, runs)) is not None
                ]
                repository.save_seq_runs(conn, changes)
                repository.unstage(conn)
            repository.set_loaded_segment(conn, segment.id)
            return changes

        changes = await db.write(work)
        self._loaded.apply(changes)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(segment.path.unlink)

    def _require(self) -> tuple[Database, Journal]:
        if self._db is None or self._journal is None:
            raise RuntimeError("the ingest writer is not open")
        return self._db, self._journal


def _new_flags(batch: Prepared, duplicates: frozenset[int]) -> list[bool] | None:
    """A flag per event of ``batch.unique``: not stored yet; None if every one is new."""
    return [seq not in duplicates for seq in batch.unique] if duplicates else None
