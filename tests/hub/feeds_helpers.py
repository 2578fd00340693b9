"""Shared by the feeds tests (plans, holds, constraints, webhooks, external, KPIs): a hub with
quick feeds and webhook passes, located agent events, a webhook receiver, and small request
helpers."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import queue
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


SECRET = "a-long-shared-secret-for-tests"


class Receiver:
    """A planning system's endpoint: answers the first ``fail_first`` requests with 500."""

    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.received: queue.Queue[tuple[int, dict[str, str], bytes, bool]] = queue.Queue()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp = self.headers["X-Floorgate-Timestamp"]
                expected = hmac.new(
                    SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                valid = hmac.compare_digest(
                    "sha256=" + expected, self.headers["X-Floorgate-Signature"]
                )
                status = 500 if receiver.fail_first > 0 else (200 if valid else 401)
                receiver.fail_first -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.received.put((status, dict(self.headers), body, valid))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def next(self) -> tuple[int, dict[str, str], dict[str, Any], bool]:
        status, headers, body, valid = self.received.get(timeout=10)
        return status, headers, json.loads(body), valid

    def events(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` bodies received (each signature checked), in arrival order."""
        found = []
        for _ in range(count):
            status, _, body, valid = self.next()
            assert (status, valid) == (200, True)
            found.append(body)
        return found


@contextlib.contextmanager
def receiving(fail_first: int = 0) -> Iterator[Receiver]:
    """A :class:`Receiver` serving on loopback until the block ends."""
    receiver = Receiver(fail_first)
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
