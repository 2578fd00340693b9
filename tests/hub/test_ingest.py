"""Ingest through a real hub: per-event verdicts, idempotency, gzip, restart durability."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.hub.conftest import AGENT, RunningHub, batch, event


def stored_ids(user: httpx.Client, **params: Any) -> list[str]:
    reply = user.get("/api/v1/events", params={"limit": 1000, **params})
    assert reply.status_code == 200, reply.text
    return [item["event_id"] for item in reply.json()["items"]]


def test_valid_batch_is_accepted_and_stored(agent: httpx.Client, user: httpx.Client) -> None:
    reply = agent.post("/api/v1/ingest", json=batch(event(1), event(2)))
    assert reply.status_code == 200
    assert reply.json() == {
        "accepted": ["line1:1", "line1:2"],
        "duplicates": [],
        "rejected": [],
        "commands": [],
    }
    [first, _] = user.get("/api/v1/events").json()["items"]
    sent = event(1)
    assert first["value"] == sent["value"]
    assert first["tag"] == sent["tag"] and first["type"] == "value"
    assert first["source_time"] == "2026-03-01T08:00:01Z"
    assert first["received_at"] == "2026-03-01T08:00:00Z"  # the hub's (fake) clock


def test_malformed_events_are_rejected_alone_with_reasons(
    agent: httpx.Client, user: httpx.Client
) -> None:
    events = [
        event(1),
        event(2, seq="7"),
        event(3, event_id=False),
        event(4, colour="red"),
        event(5, event_id="line1:500"),
        event(6, agent_id="line2", event_id="line2:6"),
        event(7),
    ]
    reply = agent.post("/api/v1/ingest", json=batch(*events))
    assert reply.status_code == 200
    body = reply.json()
    assert body["accepted"] == ["line1:1", "line1:7"]
    rejected = {r["index"]: (r["event_id"], r["reason"]) for r in body["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 5]
    assert rejected[1] == ("line1:2", "seq: Input should be a valid integer")
    assert rejected[2][0] is None and "event_id" in rejected[2][1]
    assert "colour" in rejected[3][1]
    assert "event_id must be 'line1:5'" in rejected[4][1]
    assert "differs from the batch's 'line1'" in rejected[5][1]
    assert stored_ids(user) == ["line1:1", "line1:7"]


def test_duplicates_are_listed_and_stored_once(agent: httpx.Client, user: httpx.Client) -> None:
    first = agent.post("/api/v1/ingest", json=batch(event(1), event(2), event(1))).json()
    assert first["accepted"] == ["line1:1", "line1:2"]
    assert first["duplicates"] == ["line1:1"]

    again = agent.post("/api/v1/ingest", json=batch(event(2), event(3), event(1))).json()
    assert again["accepted"] == ["line1:3"]
    assert again["duplicates"] == ["line1:2", "line1:1"]
    assert stored_ids(user) == ["line1:1", "line1:2", "line1:3"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (json.dumps({"agent_id": AGENT, "events": [], "x": 1}).encode(), "unknown keys"),
        (json.dumps({"agent_id": AGENT, "events": "none"}).encode(), "events must be a list"),
    ],
)
def test_malformed_envelope_is_422(agent: httpx.Client, raw: bytes, reason: str) -> None:
    reply = agent.post("/api/v1/ingest", content=raw)
    assert reply.status_code == 422
    assert reason in reply.json()["detail"]


def test_batch_for_another_agent_is_403(agent: httpx.Client, user: httpx.Client) -> None:
    reply = agent.post("/api/v1/ingest", json=batch(event(1, "line2"), agent_id="line2"))
    assert reply.status_code == 403
    assert "line1" in reply.json()["detail"]
    assert stored_ids(user) == []


def test_gzip_body(agent: httpx.Client, user: httpx.Client) -> None:
    raw = gzip.compress(json.dumps(batch(event(1), event(2))).encode())
    reply = agent.post("/api/v1/ingest", content=raw, headers={"Content-Encoding": "gzip"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["accepted"] == ["line1:1", "line1:2"]
    assert stored_ids(user) == ["line1:1", "line1:2"]


@pytest.mark.parametrize(
    ("raw", "encoding", "status"),
    [
        (b"not gzip at all", "gzip", 400),
        (gzip.compress(b'{"agent_id": "line1", "events": []}')[:-12], "gzip", 400),
        (b"{}", "br", 415),
    ],
)
def test_unreadable_encoding(agent: httpx.Client, raw: bytes, encoding: str, status: int) -> None:
    reply = agent.post("/api/v1/ingest", content=raw, headers={"Content-Encoding": encoding})
    assert reply.status_code == status
    assert reply.json()["detail"]


def test_many_events_in_one_batch(agent: httpx.Client, user: httpx.Client) -> None:
    events = [event(seq) for seq in range(1, 5001)]
    reply = agent.post("/api/v1/ingest", json=batch(*events))
    assert reply.status_code == 200
    assert len(reply.json()["accepted"]) == 5000
    assert len(stored_ids(user)) == 1000  # one page of the 5000


def test_restart_keeps_acknowledged_events(hub: RunningHub, agent_tokens: dict[str, str]) -> None:
    with hub.client(agent_tokens[AGENT]) as agent:
        assert agent.post("/api/v1/ingest", json=batch(event(1), event(2))).status_code == 200
    hub.restart()
    with hub.client(agent_tokens[AGENT]) as agent:
        reply = agent.post("/api/v1/ingest", json=batch(event(2), event(3))).json()
    assert reply["duplicates"] == ["line1:2"]
    assert reply["accepted"] == ["line1:3"]
    with hub.client() as anon:
        login = {"username": "ada", "password": "correct horse battery"}
        token = anon.post("/api/v1/auth/login", json=login).json()["token"]
    with hub.client(token) as user:
        assert stored_ids(user) == ["line1:1", "line1:2", "line1:3"]


def test_openapi_documents_the_ingest_body(anon: httpx.Client) -> None:
    spec = anon.get("/openapi.json").json()
    body = spec["paths"]["/api/v1/ingest"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/IngestRequest"
    schemas = spec["components"]["schemas"]
    assert schemas["IngestRequest"]["properties"]["events"]["items"] == {
        "$ref": "#/components/schemas/Event"
    }
    assert "seq" in schemas["Event"]["properties"]


def test_concurrent_overlapping_batches_store_each_event_once(
    hub: RunningHub, agent_tokens: dict[str, str], user: httpx.Client
) -> None:
    """Retries racing their originals (overlapping ids, posted at once) are stored once: each
    id is accepted by exactly one reply and listed as a duplicate by the others."""
    bodies = [
        batch(*(event(seq) for seq in range(start, start + 40))) for start in range(1, 120, 20)
    ]
    replies: list[dict[str, Any]] = []

    def post(body: dict[str, Any]) -> None:
        with hub.client(agent_tokens[AGENT]) as client:
            reply = client.post("/api/v1/ingest", json=body)
            assert reply.status_code == 200, reply.text
            replies.append(reply.json())

    threads = [threading.Thread(target=post, args=(body,)) for body in bodies * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(replies) == len(threads)
    accepted = [event_id for reply in replies for event_id in reply["accepted"]]
    sent = {f"{AGENT}:{seq}" for seq in range(1, 141)}
    assert sorted(accepted) == sorted(sent)  # each once
    for reply in replies:
        assert len(reply["accepted"]) + len(reply["duplicates"]) == 40
    assert sorted(stored_ids(user)) == sorted(sent)


def test_values_read_back_as_sent(agent: httpx.Client, user: httpx.Client) -> None:
    """The bulk path keeps every field as validated: any integer size, null, text, offsets."""
    sent = [
        event(1, value=2**70),
        event(2, value=None, quality="bad"),
        event(3, tag="ünï.cödé \u2028", value='quote " and \\ and \u0000'),
        event(4, value=-0.0, source_time="2026-03-01T09:30:00.123456+05:45"),
        event(5, value=1e308, rule="r", severity="high", category="quality"),
        event(6, type="state", tag=None, value="RUNNING", context={"n": 2**65, "x": None}),
    ]
    assert agent.post("/api/v1/ingest", json=batch(*sent)).json()["accepted"] == [
        f"{AGENT}:{seq}" for seq in range(1, 7)
    ]
    items = user.get("/api/v1/events").json()["items"]
    for stored, original in zip(items, sent, strict=True):
        for key in ("event_id", "agent_id", "seq", "type", "value", "quality", "rule"):
            assert stored[key] == original.get(key), key
        assert stored.get("tag") == original.get("tag")
        assert stored["context"] == original.get("context", {})
        sent_at = datetime.fromisoformat(original["source_time"])
        assert datetime.fromisoformat(stored["source_time"]) == sent_at
    assert (items[4]["severity"], items[4]["category"]) == ("high", "quality")


@pytest.mark.parametrize("mixed", [False, True])
def test_location_comes_from_each_context(
    agent: httpx.Client, as_user: Callable[[str], httpx.Client], mixed: bool
) -> None:
    """Only non-empty text locates an event: a batch with one location for all, and a batch
    whose events differ (read per event), give the same answer."""
    press = {"site": "plant1", "area": "press", "line": "L1"}
    contexts = [press, press] if not mixed else [press, {"site": 5, "area": "press"}]
    contexts += [{"site": "plant1", "area": ""}] if mixed else []
    events = [event(seq, context=context) for seq, context in enumerate(contexts, start=1)]
    assert len(agent.post("/api/v1/ingest", json=batch(*events)).json()["accepted"]) == len(events)
    # maria (plant1 / press) sees the located events only.
    seen = stored_ids(as_user("maria"))
    assert seen == ([f"{AGENT}:1", f"{AGENT}:2"] if not mixed else [f"{AGENT}:1"])
    assert len(stored_ids(as_user("ada"))) == len(events)
