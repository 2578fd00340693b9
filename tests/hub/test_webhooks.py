"""Outbound webhooks against a real receiving HTTP server on loopback: HMAC-SHA256 signatures
the receiver checks itself, a failed first delivery retried after the backoff (the hub's clock
is moved, no sleeping), the delivery log, subscriptions audited and the secret shown once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from hub.webhooks.service import backoff
from tests.hub.conftest import FakeClock, RunningHub
from tests.hub.feeds_helpers import (
    L1,
    SECRET,
    AsUser,
    Receiver,
    audit_actions,
    hub,
    ingest,
    located,
    ok,
    receiving,
)

__all__ = ["hub"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving(fail_first=1) as r:
        yield r


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
