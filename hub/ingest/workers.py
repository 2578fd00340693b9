"""Worker processes that prepare large ingest batches beside the hub's own process.

Validating and re-serialising a batch of 1,000 events holds the GIL for about 7 ms (pydantic
builds every event object), more than the rest of a request together, so one hub process
topped out near 60,000 events/s with cores to spare. Large batches are therefore prepared in
a pool of processes, spawned on first use (a hub that only sees small batches never starts
one); small ones are prepared on a thread, where the hop to a worker and back would cost more
than the work.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime

from hub.ingest.prepare import Prepared, prepare

logger = logging.getLogger(__name__)

MIN_POOL_BYTES = 64 * 1024
"""Bodies from this size (about 300 value events) go to a worker process."""

MAX_DEFAULT_WORKERS = 4


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

    async def prepare(self, body: bytes, agent_id: str, received_at: datetime) -> Prepared:
        """``hub.ingest.prepare.prepare`` off the event loop: in a worker if ``body`` is large.

        Raises what ``prepare`` raises.
        """
        executor = None
        if self.workers > 0 and len(body) >= MIN_POOL_BYTES:
            executor = self._executor or self._start()
        if executor is None:
            return await asyncio.to_thread(prepare, body, agent_id, received_at)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, prepare, body, agent_id, received_at)
        except BrokenProcessPool:
            # A worker died (killed for memory, say): this batch is prepared here and the
            # next large one starts a fresh pool.
            logger.exception("an ingest worker process died; starting new ones")
            if self._executor is executor:
                self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            return await asyncio.to_thread(prepare, body, agent_id, received_at)

    async def close(self) -> None:
        """Stop the worker processes (waits for the batches they hold)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    def _start(self) -> ProcessPoolExecutor | None:
        if multiprocessing.current_process().daemon:
            # multiprocessing lets no daemon process have children.
            logger.warning("the hub runs in a daemon process: ingest workers are off")
            self.workers = 0
            return None
        # Spawned, not forked: the hub process has threads (DuckDB's among them) that a fork
        # would copy in whatever state they are.
        self._executor = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn")
        )
        return self._executor
