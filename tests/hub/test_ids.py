"""Ids in paths and queries are bounded like the BIGINT they are stored as: an absurd one is a
422 with a reason, never a database error (schemathesis found a 500 for a 39-digit alarm id)."""

from __future__ import annotations

import httpx
import pytest

HUGE = "-250668184026326867080489627758387789824"
"""The id schemathesis sent: beyond any 128-bit integer."""
BEYOND_BIGINT = str(2**63)


@pytest.mark.parametrize("bad", [HUGE, BEYOND_BIGINT, "0"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/alarms/{id}", None),
        ("POST", "/api/v1/alarms/{id}/unsuppress", {"channel": "api", "reason": "0"}),
        ("POST", "/api/v1/alarms/{id}/ack", {}),
        ("GET", "/api/v1/tasks/{id}", None),
        ("GET", "/api/v1/approvals/{id}", None),
        ("GET", "/api/v1/runs/{id}", None),
        ("GET", "/api/v1/webhooks/deliveries?subscription_id={id}", None),
    ],
)
def test_an_id_out_of_range_is_refused_with_422(
    user: httpx.Client, method: str, path: str, body: dict[str, str] | None, bad: str
) -> None:
    reply = user.request(method, path.format(id=bad), json=body)
    assert reply.status_code == 422, reply.text
    assert "id" in reply.json()["detail"]


def test_an_id_in_range_that_does_not_exist_is_still_404(user: httpx.Client) -> None:
    assert user.get(f"/api/v1/alarms/{2**63 - 1}").status_code == 404


def test_a_last_event_id_out_of_range_is_refused_with_422(user: httpx.Client) -> None:
    reply = user.get("/api/v1/constraints/stream", headers={"Last-Event-ID": BEYOND_BIGINT})
    assert reply.status_code == 422, reply.text
