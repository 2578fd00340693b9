"""The forwarder against a real hub on loopback: delivery, gzip, dead letters, outages."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from edge_agent.buffer import Buffer, Draft
from edge_agent.config import HubLink
from edge_agent.forward import Forwarder
from hub.admin import add_user, create_agent_token
from hub.config import HubConfig, ListenConfig, StorageConfig
from hub.serve import build_server
from protocols.wire import EventType
from tests.conftest import free_port

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Hub:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def seqs(self) -> list[int]:
        with httpx.Client(base_url=self.url) as client:
            login = client.post(
                "/api/v1/auth/login", json={"username": "ada", "password": "correct horse"}
            )
            client.headers["Authorization"] = f"Bearer {login.json()['token']}"
            items = client.get("/api/v1/events", params={"agent_id": "a", "limit": 1000})
            return [item["seq"] for item in items.json()["items"]]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    db = tmp_path / "hub.duckdb"
    token = create_agent_token(db, "a")
    add_user(db, "ada", "admin", "correct horse", [], [])
    server = build_server(
        HubConfig(listen=ListenConfig(host="127.0.0.1", port=0), storage=StorageConfig(path=db))
    )
    thread = threading.Thread(target=server.run)
    thread.start()
    assert server.ready.wait(30)
    try:
        yield Hub(f"http://127.0.0.1:{server.port}", token)
    finally:
        server.should_exit = True
        thread.join(30)


def _values(buffer: Buffer, n: int) -> None:
    buffer.append_now([Draft(EventType.VALUE, T0, tag="t", value=i) for i in range(n)])


@pytest.mark.parametrize("compressed", [False, True])
async def test_drain_delivers_everything_once(hub: Hub, tmp_path: Path, compressed: bool) -> None:
    buffer = Buffer(tmp_path / "agent.sqlite", "a")
    _values(buffer, 2500)
    link = HubLink(url=hub.url, batch_max=1000, gzip=compressed)
    async with httpx.AsyncClient() as client:
        forwarder = Forwarder(buffer, link, hub.token, client)
        await forwarder.drain()
        assert forwarder.sent == 2500
        assert forwarder.hub_reachable is True
    assert buffer.stats_now().depth == 0
    buffer.close()
    assert sorted(hub.seqs()) == list(range(1, 1001))  # the first page of the 2,500


async def test_an_event_the_hub_rejects_goes_to_dead_letters_alone(
    hub: Hub, tmp_path: Path
) -> None:
    buffer = Buffer(tmp_path / "agent.sqlite", "a")
    _values(buffer, 2)
    buffer.append_now([Draft(EventType.VALUE, T0, tag="x" * 300, value=1)])  # tag too long
    _values(buffer, 2)
    async with httpx.AsyncClient() as client:
        await Forwarder(buffer, HubLink(url=hub.url), hub.token, client).drain()
    assert buffer.stats_now().depth == 0
    ((seq, reason),) = buffer.dead_letters_now()
    assert seq == 3 and "tag" in reason
    buffer.close()
    assert sorted(hub.seqs()) == [1, 2, 4, 5]


async def test_unreachable_hub_keeps_events_and_says_so_once(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path / "agent.sqlite", "a")
    _values(buffer, 3)
    link = HubLink(url=f"http://127.0.0.1:{free_port()}", retry_max=0.05)
    async with httpx.AsyncClient() as client:
        forwarder = Forwarder(buffer, link, "token", client)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):
                await forwarder.drain()
        assert forwarder.hub_reachable is False
    assert buffer.stats_now().depth == 3
    buffer.close()
