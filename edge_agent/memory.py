"""Keeps the agent's resident memory near what it uses: glibc's ``malloc_trim``.

Starting the agent (importing the protocol libraries, validating the config, connecting and
subscribing) makes and frees tens of megabytes of short-lived objects. glibc keeps freed memory
inside its heap and returns only the top of it to the system, so the process kept about 37 MB
it no longer used (measured with every protocol imported: 116 MB resident before a trim, 79 MB
after; ``bench/bench_rss.py``). ``malloc_trim(0)`` hands every free page back. It walks the
heap, a few milliseconds: done once the agent has settled, then every few minutes, since a
backlog drained after an outage leaves the same kind of holes.

On a C library without ``malloc_trim`` (musl, e.g. Alpine) this does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

SETTLE_SECONDS = 10.0
"""After start: sources have connected and subscribed by then."""
INTERVAL_SECONDS = 300.0


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    result: Callable[[int], int] = trim
    return result


_TRIM = _malloc_trim()


def release_free_memory(collect: bool = False) -> bool:
    """Return the heap's free pages to the system, after a full garbage collection if
    ``collect`` (about 40 ms with every protocol library loaded); False if this C library
    cannot."""
    if collect:
        gc.collect()
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


async def trim_loop(settle: float = SETTLE_SECONDS, interval: float = INTERVAL_SECONDS) -> None:
    """Trim once the agent has settled, then every ``interval`` seconds, until cancelled.

    Once settled, everything alive (imported libraries, config, detectors) is also moved out of
    the garbage collector's sight with ``gc.freeze``: it lives as long as the agent, and a full
    collection would otherwise walk all of it again and again while a scan allocates a Reading
    per register."""
    await asyncio.sleep(settle)
    trimmed = release_free_memory(collect=True)
    gc.freeze()
    if not trimmed:
        log.debug("malloc_trim is not available: resident memory is left to the C library")
        return
    while True:
        await asyncio.sleep(interval)
        release_free_memory()
