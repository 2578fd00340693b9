"""Outbound webhooks against a real receiving HTTP server on loopback: HMAC-SHA256 signatures
the receiver checks itself, a failed first delivery retried after the backoff (the hub's clock
is moved, no sleeping), the delivery log, subscriptions audited and the secret shown once."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from hub.webhooks.service import backoff
from tests.hub.conftest import FakeClock, RunningHub
from tests.hub.feeds_helpers import L1, AsUser, audit_actions, hub, ingest, located, ok

__all__ = ["hub"]

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


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=1)
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def until_logged(
    client: httpx.Client, done: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """The delivery log once every delivery in it satisfies ``done`` (at most 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        log: list[dict[str, Any]] = ok(client.get("/api/v1/webhooks/deliveries"))["items"]
        if log and all(done(d) for d in log):
            return log
        assert time.monotonic() < deadline, log
        time.sleep(0.02)


def subscribe(client: httpx.Client, url: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "aps", "url": url, "events": ["hold.*"], "secret": SECRET, **fields}
    created: dict[str, Any] = ok(client.post("/api/v1/webhooks/subscriptions", json=body))
    return created


def test_signed_delivery_is_retried_after_a_failure(
    receiver: Receiver, hub: RunningHub, clock: FakeClock, agent: httpx.Client, as_user: AsUser
) -> None:
    admin = as_user("ada")
    created = subscribe(admin, receiver.url)
    assert created["secret"] == SECRET
    assert "secret" not in ok(admin.get("/api/v1/webhooks/subscriptions"))[0]
    ingest(agent, located(1, L1))
    hold = {"lot": "LOT-42", "reason": "porosity", "site": "plant1", "line": "L1"}
    ok(as_user("quinn").post("/api/v1/holds", json={"hold": [hold]}))

    status, headers, body, valid = receiver.next()
    assert (status, valid) == (500, True)
    assert headers["X-Floorgate-Event"] == "hold.placed"
    assert body["event"] == "hold.placed" and body["data"]["lot"] == "LOT-42"
    assert body["site"] == "plant1" and body["area"] == "press"
    # The attempt is committed just after the receiver answers: wait for the log to show it.
    [pending] = until_logged(admin, lambda d: d["attempts"] == 1)
    assert (pending["status"], pending["attempts"], pending["last_status"]) == ("pending", 1, 500)
    assert pending["next_attempt_at"] is not None

    clock.advance(timedelta(seconds=31))  # past the 30 s backoff the test hub is given
    status, headers, again, valid = receiver.next()
    assert (status, valid) == (200, True)
    assert again == body  # the same event, the same delivery id
    assert headers["X-Floorgate-Delivery"] == str(pending["id"])

    [delivered] = until_logged(admin, lambda d: d["status"] == "delivered")
    assert (delivered["status"], delivered["attempts"]) == ("delivered", 2)
    assert [a["status_code"] for a in delivered["attempt_log"]] == [500, 200]
    assert audit_actions(admin, object_type="webhook_subscription") == ["webhook.subscribed"]


def test_paused_and_unmatched_subscriptions_get_nothing(
    receiver: Receiver, as_user: AsUser
) -> None:
    admin = as_user("ada")
    created = subscribe(admin, receiver.url, events=["constraint.*"])
    hold = {"lot": "LOT-1", "reason": "r", "site": "plant1"}
    ok(as_user("quinn").post("/api/v1/holds", json={"hold": [hold]}))
    # constraint.opened for the lot_held constraint matches; hold.placed does not.
    _, _, body, _ = receiver.next()
    assert body["event"] == "constraint.opened" and body["data"]["status"] == "lot_held"
    paused = ok(
        admin.patch(f"/api/v1/webhooks/subscriptions/{created['id']}", json={"active": False})
    )
    assert paused["active"] is False
    hold2 = {"lot": "LOT-2", "reason": "r", "site": "plant1"}
    ok(as_user("quinn").post("/api/v1/holds", json={"hold": [hold2]}))
    events = [d["event"] for d in ok(admin.get("/api/v1/webhooks/deliveries"))["items"]]
    assert events == ["constraint.opened"]
    assert audit_actions(admin, object_type="webhook_subscription") == [
        "webhook.subscribed",
        "webhook.updated",
    ]


def test_scope_and_validation(as_user: AsUser) -> None:
    sam = as_user("sam")  # supervisor of plant1
    mine = subscribe(sam, "http://127.0.0.1:9/x")
    assert mine["sites"] == ["plant1"]
    outside = sam.post(
        "/api/v1/webhooks/subscriptions",
        json={"name": "x", "url": "http://127.0.0.1:9/x", "sites": ["plant2"]},
    )
    assert outside.status_code == 403
    bad = as_user("ada").post(
        "/api/v1/webhooks/subscriptions", json={"name": "x", "url": "not a url"}
    )
    assert bad.status_code == 422
    short = as_user("ada").post(
        "/api/v1/webhooks/subscriptions",
        json={"name": "x", "url": "http://127.0.0.1:9/x", "secret": "short"},
    )
    assert short.status_code == 422
    assert as_user("pia").post("/api/v1/webhooks/subscriptions", json={}).status_code == 403


@pytest.mark.parametrize(("attempt", "seconds"), [(1, 5), (2, 10), (3, 20), (8, 640), (20, 3600)])
def test_backoff_doubles_up_to_the_cap(attempt: int, seconds: float) -> None:
    assert backoff(attempt, 5, 3600) == timedelta(seconds=seconds)
