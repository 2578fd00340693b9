"""GET /events: (agent_id, seq) order, filters, and cursor paging."""

from __future__ import annotations

from typing import Any

import httpx

from tests.hub.conftest import OTHER_AGENT, RunningHub, batch, event


def test_pages_cover_every_event_once_in_order(
    hub: RunningHub, agent: httpx.Client, user: httpx.Client, agent_tokens: dict[str, str]
) -> None:
    agent.post("/api/v1/ingest", json=batch(*(event(s) for s in (3, 1, 2, 10))))
    with hub.client(agent_tokens[OTHER_AGENT]) as other:
        other.post("/api/v1/ingest", json=batch(event(1, OTHER_AGENT), agent_id=OTHER_AGENT))

    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        reply = user.get("/api/v1/events", params=params)
        assert reply.status_code == 200
        body = reply.json()
        pages.append([item["event_id"] for item in body["items"]])
        if body["next"] is None:
            break
        params["after"] = body["next"]
    assert pages == [["line1:1", "line1:2"], ["line1:3", "line1:10"], ["line2:1"]]


def test_filters(agent: httpx.Client, user: httpx.Client) -> None:
    events = [event(1), event(2, tag="press2.temp"), event(3, type="health", tag=None)]
    agent.post("/api/v1/ingest", json=batch(*events))

    def ids(**params: Any) -> list[str]:
        return [
            item["event_id"] for item in user.get("/api/v1/events", params=params).json()["items"]
        ]

    assert ids(tag="press2.temp") == ["line1:2"]
    assert ids(type="health") == ["line1:3"]
    assert ids(agent_id="line1", type="value") == ["line1:1", "line1:2"]
    assert ids(agent_id=OTHER_AGENT) == []


def test_bad_paging_parameters_are_422(user: httpx.Client) -> None:
    for params in ({"limit": 0}, {"limit": 1001}, {"after": "garbage"}, {"after": "WzEsMl0"}):
        reply = user.get("/api/v1/events", params=params)
        assert reply.status_code == 422, params
        assert isinstance(reply.json()["detail"], str)
