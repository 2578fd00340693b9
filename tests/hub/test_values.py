"""Live values through a real hub: newest wins, located, scoped, filtered by glob, aged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx

from tests.hub.conftest import T0, FakeClock, batch, event

AsUser = Callable[[str], httpx.Client]
PRESS = {"site": "plant1", "area": "press", "line": "L1"}
PAINT = {"site": "plant1", "area": "paint", "line": "L2"}


def values(client: httpx.Client, **params: Any) -> dict[str, dict[str, Any]]:
    reply = client.get("/api/v1/values", params=params)
    assert reply.status_code == 200, reply.text
    return {f"{v['agent_id']}/{v['tag']}": v for v in reply.json()["items"]}


def test_newest_value_per_tag_wins_and_ages(
    agent: httpx.Client, as_user: AsUser, clock: FakeClock
) -> None:
    clock.advance(timedelta(seconds=30))
    events = [
        event(1, tag="press1.temp", value=20.0, context=PRESS),
        event(3, tag="press1.temp", value=22.0, quality="uncertain", context=PRESS),
        event(2, tag="press1.temp", value=21.0, context=PRESS),  # older, later in the batch
        event(4, tag="press1.rate", value=True, context=PRESS),
    ]
    agent.post("/api/v1/ingest", json=batch(*events))
    # A replayed, older event does not overwrite; an alarm carries its value too.
    agent.post(
        "/api/v1/ingest",
        json=batch(
            event(5, tag="press1.temp", value=1.0, source_time=T0.isoformat(), context=PRESS),
            event(6, type="alarm.raised", tag="press1.rate", value=False, context=PRESS),
        ),
    )
    current = values(as_user("maria"))
    temp = current["line1/press1.temp"]
    assert (temp["value"], temp["quality"], temp["seq"]) == (22.0, "uncertain", 3)
    assert temp["source_time"] == "2026-03-01T08:00:03Z"
    assert temp["age_seconds"] == 27.0
    assert (temp["site"], temp["area"], temp["line"]) == ("plant1", "press", "L1")
    assert current["line1/press1.rate"]["value"] is False


def test_filters_glob_and_scope(agent: httpx.Client, as_user: AsUser) -> None:
    agent.post(
        "/api/v1/ingest",
        json=batch(
            event(1, tag="press1.temp", context=PRESS),
            event(2, tag="press2.temp", context=PRESS),
            event(3, tag="paint1.temp", context=PAINT),
            event(4, tag="loose.temp"),  # no location: only unscoped users see it
        ),
    )
    ada = as_user("ada")
    assert sorted(values(ada)) == [
        "line1/loose.temp",
        "line1/paint1.temp",
        "line1/press1.temp",
        "line1/press2.temp",
    ]
    assert sorted(values(ada, tag="press*")) == ["line1/press1.temp", "line1/press2.temp"]
    assert sorted(values(ada, tag="*1.temp", area="press")) == ["line1/press1.temp"]
    assert sorted(values(ada, line="L2")) == ["line1/paint1.temp"]
    assert sorted(values(as_user("maria"))) == ["line1/press1.temp", "line1/press2.temp"]
    assert sorted(values(as_user("otto"))) == ["line1/paint1.temp"]
    page = ada.get("/api/v1/values", params={"limit": 3}).json()
    rest = ada.get("/api/v1/values", params={"limit": 3, "after": page["next"]}).json()
    assert [v["tag"] for v in page["items"] + rest["items"]] == [
        "loose.temp",
        "paint1.temp",
        "press1.temp",
        "press2.temp",
    ]
    assert rest["next"] is None


def test_event_time_range_and_scope(agent: httpx.Client, as_user: AsUser) -> None:
    agent.post(
        "/api/v1/ingest",
        json=batch(*(event(s, context=PRESS if s % 2 else PAINT) for s in range(1, 7))),
    )

    def ids(client: httpx.Client, **params: Any) -> list[str]:
        reply = client.get("/api/v1/events", params=params)
        assert reply.status_code == 200, reply.text
        return [e["event_id"] for e in reply.json()["items"]]

    window = {
        "since": (T0 + timedelta(seconds=2)).isoformat(),
        "until": (T0 + timedelta(seconds=5)).isoformat(),
    }
    assert ids(as_user("ada"), **window) == ["line1:2", "line1:3", "line1:4"]
    assert ids(as_user("maria"), **window) == ["line1:3"]
    assert ids(as_user("otto")) == ["line1:2", "line1:4", "line1:6"]
