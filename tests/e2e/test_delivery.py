"""Nothing accepted is ever lost, nothing is stored twice: hub outages and agent SIGKILLs.

The agent numbers every event it makes durable (seq 1, 2, 3, ...); after each ordeal the hub
must hold exactly the seqs 1..N, where N is the last seq the agent ever assigned.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.e2e.conftest import Stack, wait_for

pytestmark = pytest.mark.e2e

# Every scan reports every changed value: a steady stream of events to lose or duplicate.
LOAD = {"report": {"deadband": 0, "heartbeat": "1s"}, "health_interval": "2s"}


def _drained(stack: Stack) -> int | None:
    depth, last = stack.agent_buffer()
    return last if depth == 0 and last > 0 else None


def _assert_exactly_once(stack: Stack, last: int) -> None:
    with stack.client() as client:
        seqs = stack.hub_seqs(client)
    assert len(seqs) == len(set(seqs)), "an event is stored twice"
    missing = sorted(set(range(1, last + 1)) - set(seqs))
    assert not missing, f"{len(missing)} events lost, first {missing[:5]}"
    # The agent goes on making events after the drained moment (comm.lost once it notices the
    # sim is gone, health): those may be stored already, but no seq it has not assigned.
    assert last <= max(seqs) <= stack.agent_buffer()[1]


def test_hub_outage_loses_and_duplicates_nothing(stack: Stack) -> None:
    stack.start_hub()
    stack.start_sim()
    stack.processes.start("agent", "agent", "--config", str(stack.agent_config(**LOAD)))
    wait_for(lambda: stack.buffer_path.exists() and stack.agent_buffer()[1] > 50, timeout=20)

    assert stack.processes.stop("hub") == 0
    before_outage = stack.agent_buffer()[1]
    wait_for(lambda: stack.agent_buffer()[0] > 100, timeout=20)  # the agent keeps buffering
    assert "hub not taking events" in stack.processes.log("agent")
    stack.start_hub()

    wait_for(lambda: stack.agent_buffer()[1] > before_outage + 200, timeout=30)
    assert stack.processes.stop("sim") == 0  # the stream ends; the backlog must drain
    last = wait_for(lambda: _drained(stack), timeout=60)
    _assert_exactly_once(stack, last)
    assert "hub reachable" in stack.processes.log("agent")


def test_agent_killed_repeatedly_under_load_loses_and_duplicates_nothing(stack: Stack) -> None:
    stack.start_hub()
    stack.start_sim()
    config = stack.agent_config(**LOAD)
    for round_ in range(4):
        agent = stack.processes.start(f"agent-{round_}", "agent", "--config", str(config))
        wait_for(lambda: stack.buffer_path.exists() and stack.agent_buffer()[1] > 0, timeout=20)
        time.sleep(1.0 + 0.3 * round_)  # land the kill at different points of the cycle
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
        stack.processes.started.pop(f"agent-{round_}")
    stack.processes.start("agent", "agent", "--config", str(config))
    time.sleep(1.0)
    assert stack.processes.stop("sim") == 0
    last = wait_for(lambda: _drained(stack), timeout=60)
    _assert_exactly_once(stack, last)
