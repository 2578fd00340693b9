"""Backlog drain: events/s from a full agent buffer into a hub on loopback, beside the ceiling
of posting the same batches straight from memory with httpx (same hub, same run).

The hub runs in a thread of this process on a fresh DuckDB file; both sides send batches of
BATCH events of fresh ids (a second agent for the ceiling, so nothing is a duplicate).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from edge_agent.buffer import Buffer, Draft
from edge_agent.config import HubLink
from edge_agent.forward import Forwarder
from hub.admin import create_agent_token
from hub.config import HubConfig, ListenConfig, StorageConfig
from hub.serve import build_server
from protocols.wire import EventType

EVENTS, BATCH = 40_000, 1_000


def _drafts() -> list[Draft]:
    now = datetime.now(UTC)
    return [
        Draft(EventType.VALUE, now, tag=f"line1.tag{i % 1000}", value=float(i))
        for i in range(EVENTS)
    ]


async def drain(url: str, token: str, folder: Path) -> float:
    buffer = Buffer(folder / "agent.sqlite", "drain")
    drafts = _drafts()
    for start in range(0, EVENTS, 5_000):
        buffer.append_now(drafts[start : start + 5_000])
    link = HubLink(url=url, batch_max=BATCH)
    async with httpx.AsyncClient() as client:
        forwarder = Forwarder(buffer, link, token, client)
        started = time.perf_counter()
        await forwarder.drain()
        elapsed = time.perf_counter() - started
    assert buffer.stats_now().depth == 0
    buffer.close()
    return EVENTS / elapsed


async def ceiling(url: str, token: str, folder: Path) -> float:
    """The same events as wire JSON, prepared in advance, posted one batch after another."""
    source = Buffer(folder / "ceiling.sqlite", "ceiling")
    drafts = _drafts()
    for start in range(0, EVENTS, 5_000):
        source.append_now(drafts[start : start + 5_000])
    bodies = []
    while batch := source.pending_now(BATCH):
        events = ",".join(p.json for p in batch)
        bodies.append(f'{{"agent_id":"ceiling","events":[{events}]}}')
        source.confirm_now([p.event_id for p in batch])
    source.close()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        for body in bodies:
            response = await client.post(f"{url}/api/v1/ingest", content=body, headers=headers)
            response.raise_for_status()
        elapsed = time.perf_counter() - started
    return EVENTS / elapsed


def main() -> None:
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        db = folder / "hub.duckdb"
        tokens = {agent: create_agent_token(db, agent) for agent in ("drain", "ceiling")}
        config = HubConfig(
            listen=ListenConfig(host="127.0.0.1", port=0), storage=StorageConfig(path=db)
        )
        server = build_server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        server.ready.wait(30)
        url = f"http://127.0.0.1:{server.port}"
        try:
            raw = asyncio.run(ceiling(url, tokens["ceiling"], folder))
            ours = asyncio.run(drain(url, tokens["drain"], folder))
        finally:
            server.should_exit = True
            thread.join(30)
    print(f"{EVENTS:,} value events, batches of {BATCH:,}, hub on loopback (same process)")
    print(f"httpx posting prepared batches : {raw:9,.0f} events/s (ceiling: the hub's ingest)")
    print(f"agent buffer drain (Forwarder) : {ours:9,.0f} events/s ({ours / raw:.0%} of it)")


if __name__ == "__main__":
    main()
