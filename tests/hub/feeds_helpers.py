"""Shared by the feeds tests (plans, holds, constraints, webhooks, external, KPIs): a hub with
quick feeds and webhook passes, located agent events, and small request helpers."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hub.conftest import AGENT, FakeClock, RunningHub, batch, event

AsUser = Callable[[str], httpx.Client]
L1 = {"site": "plant1", "area": "press", "line": "L1"}
L2 = {"site": "plant1", "area": "paint", "line": "L2"}

FAST_FEEDS: dict[str, Any] = {
    "feeds": {"poll_seconds": 0.05},
    "webhooks": {"poll_seconds": 0.05, "backoff_seconds": 30, "timeout_seconds": 5},
}


@pytest.fixture
def hub(db_path: Path, clock: FakeClock, tls_context: ssl.SSLContext) -> Iterator[RunningHub]:
    """The conftest hub with the feeds pump and webhook sender polling every 50 ms."""
    running = RunningHub(db_path, clock, tls_context, FAST_FEEDS)
    running.start()
    yield running
    running.stop()


def located(
    seq: int, where: dict[str, str], agent_id: str = AGENT, **fields: Any
) -> dict[str, Any]:
    """A value event from an agent at ``where`` (site/area/line in its context)."""
    return event(seq, agent_id, **{"context": dict(where), **fields})


def ingest(agent: httpx.Client, *events: dict[str, Any], agent_id: str = AGENT) -> dict[str, Any]:
    reply = agent.post("/api/v1/ingest", json=batch(*events, agent_id=agent_id))
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    assert body["rejected"] == []
    return body


def commands(agent: httpx.Client, kind: str, agent_id: str = AGENT) -> list[dict[str, Any]]:
    """The pending commands of ``kind`` on the agent's next ingest reply (an empty batch)."""
    reply = ingest(agent, agent_id=agent_id)
    return [c for c in reply["commands"] if c["kind"] == kind]


def ok(reply: httpx.Response) -> Any:
    assert reply.status_code == 200, reply.text
    return reply.json()


def audit_actions(client: httpx.Client, **params: Any) -> list[str]:
    body = ok(client.get("/api/v1/audit", params={"limit": 1000, **params}))
    return [r["action"] for r in body["items"]]
