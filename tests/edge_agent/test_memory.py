"""The agent's memory upkeep: once settled, free heap pages go back to the system and the
long-lived objects leave the garbage collector's round."""

from __future__ import annotations

import asyncio
import gc
import sys

import pytest

from edge_agent.memory import release_free_memory, trim_loop


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_free_memory_is_released_on_glibc() -> None:
    assert release_free_memory(collect=True) is True


async def test_after_settling_the_living_objects_are_frozen() -> None:
    assert gc.get_freeze_count() == 0
    task = asyncio.create_task(trim_loop(settle=0, interval=3600))
    try:
        for _ in range(100):
            if gc.get_freeze_count():
                break
            await asyncio.sleep(0.01)
        assert gc.get_freeze_count() > 1000
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gc.unfreeze()  # the rest of the test session is not an agent
