"""Large ingest batches prepared in worker processes, through a real hub: the same reply and the
same stored events as in the hub's own process, errors carried back across the process
boundary, a killed worker costing no batch and replaced, and the workers gone with the hub.

The hub runs in a thread of the pytest process, so its workers are this process's children:
``multiprocessing.active_children()`` shows when one starts and when it is gone. Where a batch
was prepared the reply does not say; the worker's own CPU time does (Linux
``/proc/<pid>/schedstat``): a worker waiting for tasks uses none, and preparing 600 events
takes it about 4 ms. Starting a worker costs about a second of CPU, so few tests start one.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.ingest.parse import MAX_EVENTS
from hub.ingest.workers import MIN_POOL_BYTES
from tests.hub.conftest import AGENT, OTHER_AGENT, FakeClock, RunningHub, batch, event, login

StartHub = Callable[[int], RunningHub]

BROKEN_SEQ = 300
REPEATED_SEQ = 100
SEQS = range(1, 601)
"""The mixed batch: 600 value events, seq ``BROKEN_SEQ`` malformed, and seq ``REPEATED_SEQ``
sent again at the end."""

PREPARED_NS = 1_000_000
"""CPU time a worker spends on a batch of 600 events, at least (it takes about 4 ms)."""

STARTUP_SECONDS = 30.0
"""Bound on a worker's start (about 1 s of CPU, longer on a busy machine)."""


@pytest.fixture
def start_hub(db_path: Path, clock: FakeClock, tls_context: ssl.SSLContext) -> Iterator[StartHub]:
    """``start_hub(workers)``: a hub over this test's database with ``ingest.workers`` set."""
    started: list[RunningHub] = []

    def start(workers: int) -> RunningHub:
        hub = RunningHub(db_path, clock, tls_context, settings={"ingest": {"workers": workers}})
        hub.start()
        started.append(hub)
        return hub

    yield start
    for hub in started:
        hub.stop()


def children() -> set[int]:
    """The pids of this process's live children (reaping the ones that have ended)."""
    return {child.pid for child in multiprocessing.active_children() if child.pid is not None}


def cpu_ns(pid: int) -> int:
    """CPU time of ``pid``'s main thread (the one a worker prepares batches on), in ns."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def wait_until_idle(pid: int) -> None:
    """Return once worker ``pid`` has started: its CPU time stops growing (imports done, first
    task run, waiting for batches). Polled: nothing else tells when a worker is ready."""
    deadline = time.monotonic() + STARTUP_SECONDS
    last, quiet = cpu_ns(pid), 0
    while quiet < 3:
        assert time.monotonic() < deadline, f"worker {pid} still busy after {STARTUP_SECONDS} s"
        time.sleep(0.05)
        now = cpu_ns(pid)
        quiet = quiet + 1 if now == last else 0
        last = now


def large(events: list[dict[str, Any]], agent_id: Any = AGENT) -> bytes:
    """A body big enough for a worker."""
    body = json.dumps({"agent_id": agent_id, "events": events}).encode()
    assert len(body) >= MIN_POOL_BYTES
    return body


def values(seqs: range, agent_id: str = AGENT) -> list[dict[str, Any]]:
    return [event(seq, agent_id) for seq in seqs]


def mixed_body() -> bytes:
    events = values(SEQS)
    events[BROKEN_SEQ - 1] = event(BROKEN_SEQ, seq="three hundred")
    return large([*events, event(REPEATED_SEQ)])


def ids(seqs: list[int] | range) -> list[str]:
    return [f"{AGENT}:{seq}" for seq in seqs]


STORED = ids([seq for seq in SEQS if seq != BROKEN_SEQ])
REJECTED = [
    {
        "index": BROKEN_SEQ - 1,
        "event_id": f"{AGENT}:{BROKEN_SEQ}",
        "reason": "seq: Input should be a valid integer",
    }
]
FIRST_REPLY = {
    "accepted": STORED,
    "duplicates": ids([REPEATED_SEQ]),
    "rejected": REJECTED,
    "commands": [],
}
"""What the hub answers to ``mixed_body()`` the first time, wherever the batch is prepared."""


def post(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.post("/api/v1/ingest", content=body, headers={"Content-Type": "application/json"})


def ok(reply: httpx.Response) -> dict[str, Any]:
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def post_in_worker(client: httpx.Client, body: bytes, worker: int) -> httpx.Response:
    """Post ``body`` and check that ``worker`` (idle before) prepared it."""
    before = cpu_ns(worker)
    reply = post(client, body)
    assert cpu_ns(worker) - before >= PREPARED_NS, "the batch was not prepared in the worker"
    return reply


def start_worker(client: httpx.Client, before: set[int]) -> int:
    """Post a first large batch (prepared in the hub while the pool starts); return the worker
    once it is ready. ``before``: the children this process had before the hub started."""
    first = range(10_001, 10_601)
    assert ok(post(client, large(values(first))))["accepted"] == ids(first)
    [worker] = children() - before
    wait_until_idle(worker)
    return worker


def stored_ids(hub: RunningHub) -> list[str]:
    """Every stored event id, in (agent, seq) order."""
    found: list[str] = []
    with hub.client() as anon, hub.client(login(anon, "ada")) as user:
        params: dict[str, Any] = {"limit": 1000}
        while True:
            page = ok(user.get("/api/v1/events", params=params))
            found += [item["event_id"] for item in page["items"]]
            if page["next"] is None:
                return found
            params["after"] = page["next"]


def test_a_large_batch_is_prepared_in_a_worker_with_the_in_process_reply(
    start_hub: StartHub, agent_tokens: dict[str, str]
) -> None:
    before = children()
    hub = start_hub(1)
    with hub.client(agent_tokens[AGENT]) as agent:
        # A small batch stays in the hub's process: no worker is started for it.
        assert ok(agent.post("/api/v1/ingest", json=batch(event(1000))))["accepted"] == ids([1000])
        assert children() - before == set()
        worker = start_worker(agent, before)

        assert ok(post_in_worker(agent, mixed_body(), worker)) == FIRST_REPLY
        assert stored_ids(hub) == [*STORED, *ids([1000]), *ids(range(10_001, 10_601))]
        # Sent again: every valid event is a duplicate, in batch order, the repeat included.
        again = ok(post_in_worker(agent, mixed_body(), worker))
        assert again == {
            "accepted": [],
            "duplicates": [*STORED, *ids([REPEATED_SEQ])],
            "rejected": REJECTED,
            "commands": [],
        }
        assert children() - before == {worker}  # the pool is started once, then reused
    hub.stop()
    assert worker not in children()


def test_without_workers_a_large_batch_is_prepared_in_the_hub_process(
    start_hub: StartHub, agent_tokens: dict[str, str]
) -> None:
    before = children()
    hub = start_hub(0)
    with hub.client(agent_tokens[AGENT]) as agent:
        assert ok(post(agent, mixed_body())) == FIRST_REPLY
    assert stored_ids(hub) == STORED
    assert children() - before == set()


def test_errors_raised_in_a_worker_reach_the_agent_and_store_nothing(
    start_hub: StartHub, agent_tokens: dict[str, str]
) -> None:
    before = children()
    hub = start_hub(1)
    refused = [
        # (body, status, detail)
        (
            large(values(SEQS, OTHER_AGENT), OTHER_AGENT),
            403,
            f"this token may only send events of agent {AGENT!r}",
        ),
        (large(values(SEQS), 123), 422, "agent_id must be a string matching"),
        (
            large(values(range(1, MAX_EVENTS + 2))),
            422,
            f"too many events: {MAX_EVENTS + 1} (at most {MAX_EVENTS} per batch)",
        ),
    ]
    with hub.client(agent_tokens[AGENT]) as agent:
        worker = start_worker(agent, before)
        for body, status, detail in refused:
            reply = post_in_worker(agent, body, worker)
            assert reply.status_code == status, reply.text
            assert reply.json()["detail"].startswith(detail)
        assert stored_ids(hub) == ids(range(10_001, 10_601))  # the first batch only
        # A refusal leaves the worker working.
        assert ok(post_in_worker(agent, large(values(SEQS)), worker))["accepted"] == ids(SEQS)
        assert children() - before == {worker}


def test_killed_workers_cost_no_batch_and_are_replaced(
    start_hub: StartHub, agent_tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    before = children()
    hub = start_hub(1)
    seqs = iter(range(1, 100_000, 600))

    def post_next() -> None:
        first = next(seqs)
        batch_seqs = range(first, first + 600)
        assert ok(post(agent, large(values(batch_seqs))))["accepted"] == ids(batch_seqs)

    with hub.client(agent_tokens[AGENT]) as agent:
        # Killed while it starts: the batches go on in the hub's process, and a later one
        # starts a fresh worker.
        post_next()
        [starting] = children() - before
        os.kill(starting, signal.SIGKILL)  # our own child, started by this test's hub
        for _ in range(5):  # the death is noticed on a later batch, the next one starts anew
            post_next()
            if children() - before - {starting}:
                break
        [fresh] = children() - before
        assert fresh != starting
        assert "ingest workers failed to start" in caplog.text

        # Killed once it works: the batch sent to it is prepared in the hub's process instead.
        wait_until_idle(fresh)
        os.kill(fresh, signal.SIGKILL)
        caplog.clear()
        post_next()
        assert "an ingest worker process died" in caplog.text
        assert children() - before == set()
        post_next()
        [third] = children() - before
        assert third not in (starting, fresh)
        wait_until_idle(third)
        before_work = cpu_ns(third)
        post_next()
        assert cpu_ns(third) - before_work >= PREPARED_NS

    posted = next(seqs) - 1
    assert stored_ids(hub) == ids(range(1, posted + 1))
    hub.stop()
    assert third not in children()
