"""Alarm occurrences derived from ingested events, read back through GET /alarms."""

from __future__ import annotations

from typing import Any

import httpx

from tests.hub.conftest import OTHER_AGENT, RunningHub, batch, event


def raised(seq: int, tag: str, value: Any, severity: str, **context: Any) -> dict[str, Any]:
    return event(
        seq,
        type="alarm.raised",
        tag=tag,
        value=value,
        rule=f"{tag}.high",
        severity=severity,
        category="equipment",
        context=context,
    )


def cleared(seq: int, tag: str, value: Any, occurrence: str) -> dict[str, Any]:
    return event(
        seq, type="alarm.cleared", tag=tag, value=value, context={"occurrence": occurrence}
    )


def alarms(user: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    reply = user.get("/api/v1/alarms", params=params)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["next"] is None
    items: list[dict[str, Any]] = body["items"]
    return items


def test_raise_then_clear(agent: httpx.Client, user: httpx.Client) -> None:
    agent.post("/api/v1/ingest", json=batch(raised(1, "press1.temp", 91.5, "high")))
    [alarm] = alarms(user)
    assert alarm["id"] == "line1:1"
    assert alarm["state"] == "active"
    assert (alarm["tag"], alarm["value"], alarm["severity"]) == ("press1.temp", 91.5, "high")
    assert (alarm["rule"], alarm["category"]) == ("press1.temp.high", "equipment")
    assert alarm["raised_at"] == "2026-03-01T08:00:01Z"
    assert alarm["cleared_at"] is None

    agent.post("/api/v1/ingest", json=batch(cleared(2, "press1.temp", 70.0, "line1:1")))
    [alarm] = alarms(user)
    assert alarm["state"] == "returned"
    assert alarm["value"] == 91.5  # the value at raise is kept
    assert alarm["cleared_value"] == 70.0
    assert alarm["cleared_at"] == "2026-03-01T08:00:02Z"


def test_occurrence_id_from_context_and_both_ends_in_one_batch(
    agent: httpx.Client, user: httpx.Client
) -> None:
    events = [
        raised(1, "press1.temp", 95, "critical", occurrence="occ-7"),
        cleared(2, "press1.temp", 60, "occ-7"),
        raised(3, "press2.temp", True, "low"),
    ]
    assert agent.post("/api/v1/ingest", json=batch(*events)).json()["rejected"] == []
    by_id = {a["id"]: a for a in alarms(user)}
    assert by_id["occ-7"]["state"] == "returned"
    assert by_id["line1:3"]["state"] == "active"
    assert by_id["line1:3"]["value"] is True


def test_filters_and_newest_first(agent: httpx.Client, user: httpx.Client) -> None:
    events = [
        raised(1, "press1.temp", 1, "high"),
        raised(2, "press2.temp", 2, "low"),
        raised(3, "press1.temp", 3, "low"),
        cleared(4, "press1.temp", 0, "line1:1"),
    ]
    agent.post("/api/v1/ingest", json=batch(*events))
    assert [a["id"] for a in alarms(user)] == ["line1:3", "line1:2", "line1:1"]
    assert [a["id"] for a in alarms(user, state="active")] == ["line1:3", "line1:2"]
    assert [a["id"] for a in alarms(user, severity="low", tag="press1.temp")] == ["line1:3"]
    assert alarms(user, agent_id="line2") == []
    assert user.get("/api/v1/alarms", params={"state": "bogus"}).status_code == 422


def test_alarm_pages(agent: httpx.Client, user: httpx.Client) -> None:
    agent.post("/api/v1/ingest", json=batch(*(raised(s, "t", s, "low") for s in range(1, 6))))
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        body = user.get("/api/v1/alarms", params=params).json()
        seen += [a["id"] for a in body["items"]]
        if body["next"] is None:
            break
        params["after"] = body["next"]
    assert seen == [f"line1:{s}" for s in range(5, 0, -1)]


def test_agent_cannot_clear_another_agents_alarm(
    hub: RunningHub, agent: httpx.Client, user: httpx.Client, agent_tokens: dict[str, str]
) -> None:
    agent.post("/api/v1/ingest", json=batch(raised(1, "press1.temp", 99, "high")))
    foreign = event(
        1, OTHER_AGENT, type="alarm.cleared", tag="press1.temp", context={"occurrence": "line1:1"}
    )
    with hub.client(agent_tokens[OTHER_AGENT]) as other:
        reply = other.post("/api/v1/ingest", json=batch(foreign, agent_id=OTHER_AGENT))
    assert reply.json()["accepted"] == ["line2:1"]
    [alarm] = alarms(user)
    assert alarm["state"] == "active"


def test_duplicate_raise_does_not_reopen_a_returned_alarm(
    agent: httpx.Client, user: httpx.Client
) -> None:
    agent.post(
        "/api/v1/ingest", json=batch(raised(1, "t", 1, "high"), cleared(2, "t", 0, "line1:1"))
    )
    reply = agent.post("/api/v1/ingest", json=batch(raised(1, "t", 1, "high"))).json()
    assert reply["duplicates"] == ["line1:1"]
    [alarm] = alarms(user)
    assert alarm["state"] == "returned"
