"""Worker processes that prepare large ingest batches beside the hub's own process.

Validating and re-serialising a batch of 1,000 events holds the GIL for about 7 ms (pydantic
builds every event object), more than the rest of a request together, so one hub process
topped out near 60,000 events/s with cores to spare. Large batches are therefore prepared in
a pool of processes, started on the first large batch (a hub that only sees small batches
never starts one); small ones are prepared on a thread, where the hop to a worker and back
would cost more than the work.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime

from hub.ingest.prepare import Prepared, prepare

logger = logging.getLogger(__name__)

MIN_POOL_BYTES = 64 * 1024
"""Bodies from this size (about 300 value events) go to a worker process."""

MAX_DEFAULT_WORKERS = 4

GC_THRESHOLD = 100_000
"""A worker's youngest-generation threshold for the cyclic garbage collector."""


def default_workers() -> int:
    """One worker per core, at most ``MAX_DEFAULT_WORKERS``; none on a single core (the hub's
    own process already has it)."""
    cores = os.cpu_count() or 1
    return 0 if cores == 1 else min(cores, MAX_DEFAULT_WORKERS)


class PreparePool:
    """Args:
    workers: processes for large batches; 0 prepares every batch in the hub's process.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._started: asyncio.Future[list[None]] | None = None
        """Done once every worker has run a first (empty) task."""

    async def prepare(self, body: bytes, agent_id: str, received_at: datetime) -> Prepared:
        """``hub.ingest.prepare.prepare`` off the event loop: in a worker if ``body`` is large.

        Raises what ``prepare`` raises.
        """
        executor = None
        if self.workers > 0 and len(body) >= MIN_POOL_BYTES:
            executor = self._ready()
        if executor is None:
            return await asyncio.to_thread(prepare, body, agent_id, received_at)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, prepare, body, agent_id, received_at)
        except BrokenProcessPool:
            # A worker died (killed for memory, say): this batch is prepared here and the
            # next large one starts a fresh pool.
            logger.exception("an ingest worker process died; starting new ones")
            self._drop(executor)
            return await asyncio.to_thread(prepare, body, agent_id, received_at)

    async def close(self) -> None:
        """Stop the worker processes (waits for the batches they hold)."""
        executor, self._executor, self._started = self._executor, None, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    def _ready(self) -> ProcessPoolExecutor | None:
        """The pool once its workers run, else None. The first call starts them: a worker
        takes about half a second to start, and batches are prepared here meanwhile rather
        than wait for it (an alarm may be in one)."""
        if self._executor is None:
            self._start()
            return None
        started = self._started
        if started is None or not started.done():
            return None
        if started.exception() is not None:  # a worker died while starting
            logger.error(
                "ingest workers failed to start; trying again", exc_info=started.exception()
            )
            self._drop(self._executor)
            return None
        return self._executor

    def _start(self) -> None:
        if multiprocessing.current_process().daemon:
            # multiprocessing lets no daemon process have children.
            logger.warning("the hub runs in a daemon process: ingest workers are off")
            self.workers = 0
            return
        # Spawned, not forked: the hub process has threads (DuckDB's among them) that a fork
        # would copy in whatever state they are. Each submit before a worker is idle spawns
        # one more, up to ``workers``.
        executor = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
        )
        self._executor = executor
        self._started = asyncio.gather(
            *(asyncio.wrap_future(executor.submit(_started)) for _ in range(self.workers))
        )
        self._started.add_done_callback(self._log_start)

    def _log_start(self, started: asyncio.Future[list[None]]) -> None:
        # Also retrieves a failure (``_ready`` reads it again), so that a pool closed before
        # then logs no "exception never retrieved".
        if not started.cancelled() and started.exception() is None:
            logger.info("ingest: %d worker process(es) started", self.workers)

    def _drop(self, executor: ProcessPoolExecutor) -> None:
        if self._executor is executor:
            self._executor = self._started = None
        executor.shutdown(wait=False, cancel_futures=True)


def _init_worker() -> None:
    """Set up a worker: it ends with the hub, and collects cyclic garbage seldom."""
    _end_with_the_hub()
    # Preparing a batch makes ~10,000 short-lived objects, freed by reference counting (none
    # form cycles); at the default threshold (700) the collector ran about 15 times a batch,
    # 11% of the work. The modules loaded so far are moved out of its sight for good.
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD)


def _end_with_the_hub() -> None:
    """Make this worker exit when the hub process ends, however it ends.

    A worker waits for tasks on a pipe whose writing end it holds itself, so a hub killed
    without closing the pool (SIGKILL, out of memory) would leave its workers waiting forever.
    """
    hub = multiprocessing.parent_process()
    if hub is None:
        return
    sentinel = hub.sentinel  # readable once the hub process has ended

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="hub-watch", daemon=True).start()


def _started() -> None:
    """A worker's first task: by the time it runs, the worker has imported ``prepare``."""
