"""Ingest parsing, pure and table-driven: which events pass, and the reason for each that fails."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hub.errors import Unprocessable
from hub.ingest.parse import MAX_EVENTS, parse_batch
from tests.hub.conftest import AGENT, batch, event


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_valid_batch_takes_the_fast_path() -> None:
    parsed = parse_batch(body(batch(event(1), event(2))))
    assert parsed.agent_id == AGENT
    assert [e.event_id for e in parsed.events] == ["line1:1", "line1:2"]
    assert parsed.rejected == []


BAD_EVENTS = [
    # (what the test changes, the event_id reported, a fragment of the reason)
    ({"seq": "7"}, "line1:1", "seq: Input should be a valid integer"),
    ({"event_id": False}, None, "event_id: Input should be a valid string"),
    ({"colour": "red"}, "line1:1", "colour: Extra inputs are not permitted"),
    ({"event_id": "line1:99"}, "line1:99", "event_id must be 'line1:1'"),
    ({"type": "explosion"}, "line1:1", "type: Input should be"),
    ({"source_time": "2026-03-01T08:00:00"}, "line1:1", "source_time: Input should have timezone"),
    ({"value": [1, 2]}, "line1:1", "value"),
    ({"agent_id": "line2", "event_id": "line2:1"}, "line2:1", "differs from the batch's 'line1'"),
    (
        {"seq": 2**63, "event_id": f"line1:{2**63}"},
        f"line1:{2**63}",
        "seq: Input should be less than or equal to",
    ),
]


@pytest.mark.parametrize(("change", "event_id", "reason"), BAD_EVENTS)
def test_malformed_event_is_rejected_alone(
    change: dict[str, Any], event_id: str | None, reason: str
) -> None:
    parsed = parse_batch(body(batch(event(1, **change), event(2))))
    assert [e.event_id for e in parsed.events] == ["line1:2"]
    [rejected] = parsed.rejected
    assert (rejected.index, rejected.event_id) == (0, event_id)
    assert reason in rejected.reason


def test_non_finite_numbers_are_rejected() -> None:
    raw = json.dumps(batch(event(1, value=float("nan")), event(2))).encode()
    parsed = parse_batch(raw)
    assert [e.event_id for e in parsed.events] == ["line1:2"]
    assert "finite" in parsed.rejected[0].reason


def test_event_that_is_not_an_object_is_rejected() -> None:
    parsed = parse_batch(body(batch(event(1), "hello")))
    assert [(r.index, r.event_id) for r in parsed.rejected] == [(1, None)]


BAD_ENVELOPES = [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (body([event(1)]), "must be a JSON object"),
    (body({"agent_id": AGENT, "events": [], "extra": 1}), "unknown keys in body: extra"),
    (body({"agent_id": AGENT}), "missing keys in body: events"),
    (body({"agent_id": 7, "events": []}), "agent_id must be a string"),
    (body({"agent_id": "bad id!", "events": []}), "agent_id must be a string"),
    (body({"agent_id": AGENT, "events": {}}), "events must be a list"),
    (body({"agent_id": AGENT, "events": [{}] * (MAX_EVENTS + 1)}), "too many events"),
]


@pytest.mark.parametrize(("raw", "reason"), BAD_ENVELOPES)
def test_malformed_envelope_refuses_the_batch(raw: bytes, reason: str) -> None:
    with pytest.raises(Unprocessable, match=reason):
        parse_batch(raw)
