"""One DuckDB file, one connection, one writer thread.

DuckDB allows a single writer per database, and a connection must not be used from two threads
at once. So every write runs as one transaction on a single-thread executor that owns the
connection (writes are serialised, in submission order). Reads run in a small reader pool, each
thread borrowing one of the cursors made when the database opens (so no connection object
is ever shared by two threads at once). Neither ever runs on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from hub.storage.migrations import migrate

logger = logging.getLogger(__name__)

Connection = duckdb.DuckDBPyConnection
T = TypeVar("T")

BIGINT_MAX = 2**63 - 1
"""The largest id, seq or change number a BIGINT column holds (ids from outside are checked
against it: DuckDB fails on integers wider than 128 bits)."""

READER_THREADS = 4
"""Concurrent reads; further reads queue in the pool (bounded by the server's request count)."""


def _connect(path: Path, threads: int | None = None) -> Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(path), config={"threads": threads} if threads else {})
    # GLOBAL so that cursors inherit it: timestamps come back in UTC whatever the host's zone.
    conn.execute("SET GLOBAL TimeZone = 'UTC'")
    migrate(conn)
    return conn


_transaction = threading.local()
"""``callbacks``: what ``on_transaction_end`` asked of the transaction open on this thread."""


def on_transaction_end(callback: Callable[[], None]) -> None:
    """Call ``callback`` once the transaction ``run_in_transaction`` has open on this thread
    has committed or rolled back; at once if none is open (the statement has ended)."""
    callbacks: list[Callable[[], None]] | None = getattr(_transaction, "callbacks", None)
    if callbacks is None:
        callback()
    else:
        callbacks.append(callback)


def run_in_transaction(
    conn: Connection,
    work: Callable[[Connection], T],
    after_commit: Callable[[T], None] | None = None,
) -> T:
    """Run ``work`` in one transaction: committed if it returns, rolled back if it raises.

    ``after_commit`` gets the result once the commit has succeeded, and only then.
    """
    callbacks: list[Callable[[], None]] = []
    _transaction.callbacks = callbacks
    try:
        conn.begin()
        try:
            result = work(conn)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    finally:
        _transaction.callbacks = None
        for callback in callbacks:
            callback()
    if after_commit is not None:
        after_commit(result)
    return result


@contextmanager
def open_connection(path: Path) -> Iterator[Connection]:
    """A migrated connection for offline tools (admin) while no hub holds the file."""
    conn = _connect(path)
    try:
        yield conn
    finally:
        conn.close()


class Database:
    """The hub's handle on its database, owned by the app lifespan.

    Args:
        path: the DuckDB file; created and migrated on ``open``.
        threads: DuckDB's worker threads for the whole database; None: DuckDB's default (one
            per core).
    """

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.path = path
        self.threads = threads
        self._conn: Connection | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._cursors: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self._queued_writes = 0

    @property
    def queued_writes(self) -> int:
        """Writes submitted and not yet committed (the writer's queue depth, for /metrics)."""
        return self._queued_writes

    async def open(self) -> None:
        if self._conn is not None:
            raise RuntimeError("database already open")
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
        try:
            # Connect on the writer thread: opening and migrating a file is blocking I/O.
            conn = await asyncio.get_running_loop().run_in_executor(
                writer, _connect, self.path, self.threads
            )
        except BaseException:
            writer.shutdown(wait=True)
            raise
        for _ in range(READER_THREADS):
            self._cursors.put(conn.cursor())
        self._conn, self._writer = conn, writer
        self._readers = ThreadPoolExecutor(max_workers=READER_THREADS, thread_name_prefix="db-read")
        logger.info("database open at %s", self.path)

    async def close(self) -> None:
        """Wait for queued writes, then close the connection (and with it every cursor)."""
        conn, writer, readers = self._conn, self._writer, self._readers
        self._conn = self._writer = self._readers = None
        if conn is None or writer is None or readers is None:
            return

        def shutdown() -> None:
            readers.shutdown(wait=True)
            writer.shutdown(wait=True)
            while not self._cursors.empty():
                self._cursors.get_nowait().close()
            conn.close()

        await asyncio.to_thread(shutdown)
        logger.info("database closed")

    async def write(
        self,
        work: Callable[[Connection], T],
        *,
        after_commit: Callable[[T], None] | None = None,
    ) -> T:
        """Run ``work`` in one transaction on the writer thread; return after the commit.

        If ``work`` raises, the transaction is rolled back and the error propagates.
        ``after_commit`` runs on the writer thread right after the commit, before any other
        write starts: the place to update in-memory state that must match what is committed.
        """
        return await self.submit_write(work, after_commit=after_commit)

    def submit_write(
        self,
        work: Callable[[Connection], T],
        *,
        after_commit: Callable[[T], None] | None = None,
    ) -> asyncio.Future[T]:
        """``write`` as a future: the write goes on (and its future completes) even if the
        caller stops waiting for it, so one caller can wait on behalf of others."""
        conn, writer = self._require()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(writer, run_in_transaction, conn, work, after_commit)
        self._queued_writes += 1  # only touched on the event loop: no lock needed
        future.add_done_callback(self._write_done)
        return future

    def _write_done(self, _: asyncio.Future[Any]) -> None:
        self._queued_writes -= 1

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a cursor in the reader pool; it sees committed data only."""
        self._require()
        readers, cursors = self._readers, self._cursors
        assert readers is not None

        def on_cursor() -> T:
            # As many cursors as reader threads: get() never waits.
            cursor = cursors.get()
            try:
                return work(cursor)
            finally:
                cursors.put(cursor)

        return await asyncio.get_running_loop().run_in_executor(readers, on_cursor)

    def _require(self) -> tuple[Connection, ThreadPoolExecutor]:
        if self._conn is None or self._writer is None:
            raise RuntimeError("database is not open")
        return self._conn, self._writer
