"""Backlog drain: events/s from a full agent buffer into a hub on loopback, beside the ceiling
of posting the same batches straight from memory with httpx (same hub, same run).

The hub runs as ``floorgate hub`` in its own process (as it does beside a real agent, so the
two never share a GIL) on a fresh DuckDB file. Each round drains EVENTS value events of fresh
ids from an agent's buffer with the agent's Forwarder, and posts as many prepared events as
another agent, in batches of BATCH; the order flips every round and the medians are printed.
Every round is bounded by EVENTS; the run by ROUNDS and the hub's start by START_TIMEOUT.

    .venv/bin/python bench/bench_drain.py
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from edge_agent.buffer import Buffer, Draft
from edge_agent.config import HubLink
from edge_agent.forward import Forwarder
from hub.admin import create_agent_token
from protocols.wire import EventType

EVENTS, BATCH = 40_000, 1_000
ROUNDS = 3
START_TIMEOUT = 60.0
TARGET = 20_000


def _filled_buffer(path: Path, agent_id: str) -> Buffer:
    now = datetime.now(UTC)
    buffer = Buffer(path, agent_id)
    drafts = [
        Draft(EventType.VALUE, now, tag=f"line1.tag{i % 1000}", value=float(i))
        for i in range(EVENTS)
    ]
    for start in range(0, EVENTS, 5_000):
        buffer.append_now(drafts[start : start + 5_000])
    return buffer


async def drain(url: str, token: str, buffer: Buffer) -> float:
    link = HubLink(url=url, batch_max=BATCH)
    async with httpx.AsyncClient() as client:
        forwarder = Forwarder(buffer, link, token, client)
        started = time.perf_counter()
        await forwarder.drain()
        elapsed = time.perf_counter() - started
    assert buffer.stats_now().depth == 0
    return EVENTS / elapsed


async def ceiling(url: str, token: str, source: Buffer) -> float:
    """The same kind of events as wire JSON, prepared in advance, posted one batch after
    another."""
    bodies = []
    while batch := source.pending_now(BATCH):
        events = ",".join(p.json for p in batch)
        bodies.append(f'{{"agent_id":"{source.agent_id}","events":[{events}]}}')
        source.confirm_now([p.event_id for p in batch])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        for body in bodies:
            response = await client.post(f"{url}/api/v1/ingest", content=body, headers=headers)
            response.raise_for_status()
        elapsed = time.perf_counter() - started
    return EVENTS / elapsed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, hub: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            raise SystemExit(f"the hub exited with {hub.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the hub did not start")


def main() -> None:
    logging.disable(logging.INFO)
    rates: dict[str, list[float]] = {"ceiling": [], "drain": []}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        db = folder / "hub.duckdb"
        agents = [f"{kind}{i}" for i in range(ROUNDS) for kind in ("drain", "ceiling")]
        tokens = {agent: create_agent_token(db, agent) for agent in agents}
        buffers = {agent: _filled_buffer(folder / f"{agent}.sqlite", agent) for agent in agents}
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = (folder / "hub.log").open("wb")
        hub = subprocess.Popen(
            [sys.executable, "-m", "floorgate", "hub", "--db", str(db), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(url, hub)
            for index in range(ROUNDS):
                order = ("ceiling", "drain") if index % 2 == 0 else ("drain", "ceiling")
                for kind in order:
                    agent = f"{kind}{index}"
                    run = drain if kind == "drain" else ceiling
                    rates[kind].append(asyncio.run(run(url, tokens[agent], buffers[agent])))
        finally:
            hub.send_signal(signal.SIGTERM)
            try:
                hub.wait(30)
            except subprocess.TimeoutExpired:
                hub.kill()
                hub.wait()
            log.close()
            for buffer in buffers.values():
                buffer.close()
    raw, ours = statistics.median(rates["ceiling"]), statistics.median(rates["drain"])
    print(
        f"{EVENTS:,} value events per round, batches of {BATCH:,}, hub in its own process on "
        f"loopback; median of {ROUNDS} alternating rounds"
    )
    print(
        f"httpx posting prepared batches : {raw:9,.0f} events/s (ceiling: the hub's ingest)  "
        f"rounds: {' '.join(f'{r:,.0f}' for r in rates['ceiling'])}"
    )
    print(
        f"agent buffer drain (Forwarder) : {ours:9,.0f} events/s ({ours / raw:.0%} of it)  "
        f"rounds: {' '.join(f'{r:,.0f}' for r in rates['drain'])}"
    )
    print(f"target >= {TARGET:,} events/s: {'met' if ours >= TARGET else 'not met'}")


if __name__ == "__main__":
    main()
