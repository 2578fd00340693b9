"""Ids in paths, queries and cursors are bounded like the BIGINT they are stored as: an absurd
one is a 422 with a reason, never a database error (schemathesis found a 500 for a 39-digit
alarm id). One hub for every case: each is a single request."""

from __future__ import annotations

import httpx

from hub.paging import encode_cursor

HUGE = "-250668184026326867080489627758387789824"
"""The id schemathesis sent: beyond any 128-bit integer."""
BEYOND_BIGINT = 2**63

REQUESTS = [
    ("GET", "/api/v1/alarms/{id}", None),
    ("POST", "/api/v1/alarms/{id}/unsuppress", {"channel": "api", "reason": "0"}),
    ("POST", "/api/v1/alarms/{id}/ack", {}),
    ("GET", "/api/v1/tasks/{id}", None),
    ("GET", "/api/v1/approvals/{id}", None),
    ("GET", "/api/v1/runs/{id}", None),
    ("GET", "/api/v1/webhooks/deliveries?subscription_id={id}", None),
]


def test_ids_out_of_range_are_refused_with_422_and_in_range_ones_are_looked_up(
    user: httpx.Client,
) -> None:
    for method, path, body in REQUESTS:
        for bad in (HUGE, str(BEYOND_BIGINT), "0"):
            reply = user.request(method, path.format(id=bad), json=body)
            assert reply.status_code == 422, (method, path, bad, reply.text)
            assert "id" in reply.json()["detail"]
    assert user.get(f"/api/v1/alarms/{BEYOND_BIGINT - 1}").status_code == 404


def test_a_last_event_id_or_a_cursor_out_of_range_is_refused_with_422(user: httpx.Client) -> None:
    reply = user.get("/api/v1/constraints/stream", headers={"Last-Event-ID": str(BEYOND_BIGINT)})
    assert reply.status_code == 422, reply.text
    # A cursor is opaque, but a client can still forge one.
    forged = encode_cursor(["line1", int(HUGE)])
    reply = user.get("/api/v1/events", params={"after": forged})
    assert (reply.status_code, reply.json()) == (422, {"detail": "invalid cursor 'after'"})
    fine = encode_cursor(["line1", BEYOND_BIGINT - 1])
    assert user.get("/api/v1/events", params={"after": fine}).status_code == 200
