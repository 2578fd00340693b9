"""Live alarm stream (SSE through httpx streaming, against a real hub), /metrics, access logs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.alarms.schemas import Alarm
from hub.auth.scope import Scope
from hub.streams.bus import OVERFLOW, AlarmBus
from tests.hub.conftest import FakeClock, RunningHub, batch, event, login

AsUser = Callable[[str], httpx.Client]
PRESS = {"site": "plant1", "area": "press"}
PAINT = {"site": "plant1", "area": "paint"}


def raised(seq: int, **context: Any) -> dict[str, Any]:
    return event(
        seq, type="alarm.raised", tag=f"t{seq}", value=seq, rule=f"r{seq}", severity="low",
        context=context,
    )  # fmt: skip


class Stream:
    """Reads SSE blocks from a live response; comments (heartbeats) are counted, not returned."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.heartbeats = 0

    def next_event(self) -> tuple[str, dict[str, Any]]:
        name, data = "message", ""
        for line in self.lines:
            if line.startswith(":"):
                self.heartbeats += 1
            elif line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
            elif line == "" and data:
                parsed: dict[str, Any] = json.loads(data)
                return name, parsed
        raise AssertionError("stream ended")


@contextmanager
def stream(client: httpx.Client) -> Iterator[Stream]:
    # The read timeout bounds every wait: a missing event fails the test instead of hanging it.
    with client.stream("GET", "/api/v1/alarms/stream", timeout=5) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        live = Stream(reply.iter_lines())
        assert live.next_event()[0] == "ready"  # subscribed: nothing committed after is missed
        yield live


def test_changes_arrive_in_scope_only(agent: httpx.Client, as_user: AsUser) -> None:
    maria = as_user("maria")
    with stream(maria) as live:
        agent.post("/api/v1/ingest", json=batch(raised(1, **PAINT), raised(2, **PRESS)))
        name, data = live.next_event()
        assert (name, data["transition"]) == ("alarm", "raised")
        assert (data["alarm"]["occurrence"], data["alarm"]["state"]) == ("line1:2", "unack-active")
        alarm_id = data["alarm"]["id"]
        assert as_user("ada").post(f"/api/v1/alarms/{alarm_id}/ack", json={}).status_code == 200
        name, data = live.next_event()
        assert (data["transition"], data["alarm"]["acked_by"]) == ("acknowledged", "ada")


def test_heartbeats_keep_an_idle_stream_alive(as_user: AsUser) -> None:
    with stream(as_user("pia")) as live:
        # No change happens: the read ends only when the heartbeat lines have come.
        for line in live.lines:
            if line.startswith(":"):
                live.heartbeats += 1
            if live.heartbeats == 2:
                break
    assert live.heartbeats == 2


def test_shelve_timer_unshelves_live(
    agent: httpx.Client, as_user: AsUser, clock: FakeClock
) -> None:
    agent.post("/api/v1/ingest", json=batch(raised(1, **PRESS)))
    maria = as_user("maria")
    [alarm] = maria.get("/api/v1/alarms").json()["items"]
    with stream(maria) as live:
        shelve = {"minutes": 5, "reason": "calibration"}
        assert maria.post(f"/api/v1/alarms/{alarm['id']}/shelve", json=shelve).status_code == 200
        assert live.next_event()[1]["transition"] == "shelved"
        clock.advance(timedelta(minutes=5))
        _, data = live.next_event()  # sent by the hub's own timer task
        assert (data["transition"], data["alarm"]["state"]) == ("unshelved", "unack-active")


def test_bus_drops_a_subscriber_that_falls_behind() -> None:
    async def scenario() -> None:
        bus = AlarmBus(max_queued=2)
        slow, elsewhere = bus.subscribe(Scope()), bus.subscribe(Scope(areas=("paint",)))
        alarm = Alarm.model_construct(site="plant1", area="press")
        bus.publish([("raised", alarm)] * 3)
        got = [slow.queue.get_nowait() for _ in range(3)]
        assert got[2] is OVERFLOW and slow.dropped
        assert (bus.overflows, bus.subscribers) == (1, 1)
        assert elsewhere.queue.empty()

    asyncio.run(scenario())


def metric_lines(anon: httpx.Client) -> dict[str, float]:
    reply = anon.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for line in reply.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_metrics(agent: httpx.Client, anon: httpx.Client, as_user: AsUser) -> None:
    agent.post("/api/v1/ingest", json=batch(event(1), event(2, seq="x"), raised(3, **PRESS)))
    agent.post("/api/v1/ingest", json=batch(event(1), raised(4, **PRESS)))
    alarm_id = as_user("ada").get("/api/v1/alarms").json()["items"][0]["id"]
    as_user("ada").post(f"/api/v1/alarms/{alarm_id}/ack", json={})
    samples = metric_lines(anon)
    assert samples['floorgate_ingest_events_total{result="accepted"}'] == 3
    assert samples['floorgate_ingest_events_total{result="duplicate"}'] == 1
    assert samples['floorgate_ingest_events_total{result="rejected"}'] == 1
    assert samples["floorgate_ingest_batches_total"] == 2
    assert samples['floorgate_alarms_open{state="unack-active"}'] == 1
    assert samples['floorgate_alarms_open{state="ack-active"}'] == 1
    assert samples["floorgate_db_writer_queue_depth"] == 0
    assert samples["floorgate_ingest_journal_segments"] == 0  # an alarm batch loads it first
    assert samples["floorgate_stream_subscribers"] == 0


def test_json_request_log(
    db_path: Path, clock: FakeClock, tls_context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.access")
    hub = RunningHub(db_path, clock, tls_context, {"logs": {"json_requests": True}})
    hub.start()
    try:
        with hub.client() as anon:
            login(anon, "ada")
            anon.get("/api/v1/alarms")
    finally:
        hub.stop()
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "hub.access"]
    assert [(x["method"], x["path"], x["status"]) for x in lines][-2:] == [
        ("POST", "/api/v1/auth/login", 200),
        ("GET", "/api/v1/alarms", 401),
    ]
    assert all(x["duration_ms"] >= 0 and x["client"] == "127.0.0.1" for x in lines)
