"""The panel's HTTP handling over a real socket: token, limits, errors (the alarm behaviour
behind it is tested in test_alarms and end to end in tests/e2e/test_panel.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from edge_agent.alarms import AlarmError
from edge_agent.panel import MAX_BODY, Panel, PanelActions


@pytest.fixture
async def panel() -> AsyncIterator[tuple[str, list[tuple[object, ...]]]]:
    calls: list[tuple[object, ...]] = []

    async def acknowledge(occurrence: str, by: str, note: str | None, channel: str) -> None:
        if occurrence == "gone":
            raise AlarmError("no open alarm occurrence 'gone'")
        calls.append(("ack", occurrence, by, note, channel))

    async def shelve(rule: str, duration: timedelta | None, reason: str, by: str) -> None:
        calls.append(("shelve", rule, duration, reason, by))

    async def metrics() -> bytes:
        return b"floorgate_agent_up 1.0\n"

    async def set_flags(
        rule: str, suppressed: bool, out_of_service: bool, by: str, reason: str | None
    ) -> None:
        calls.append(("flags", rule, suppressed, out_of_service, by, reason))

    actions = PanelActions(list, acknowledge, shelve, metrics, set_flags)
    server = Panel(actions, "127.0.0.1", 0, "s3cret")
    task = asyncio.create_task(server.serve())
    await asyncio.wait_for(server.ready.wait(), 5)
    try:
        yield f"http://127.0.0.1:{server.port}", calls
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_token_is_required_when_configured(panel: tuple[str, list]) -> None:
    url, _ = panel
    async with httpx.AsyncClient(base_url=url) as client:
        refused = await client.get("/alarms")
        assert (refused.status_code, refused.json()) == (
            401,
            {"detail": "a bearer token is required"},
        )
        ok = await client.get("/alarms", headers={"Authorization": "Bearer s3cret"})
        assert (ok.status_code, ok.json()) == (200, {"items": []})
        assert ok.reason_phrase == "OK"


async def test_actions_errors_and_limits(panel: tuple[str, list]) -> None:
    url, calls = panel
    auth = {"Authorization": "Bearer s3cret"}
    async with httpx.AsyncClient(base_url=url, headers=auth) as client:
        acked = await client.post("/alarms/o1/ack", json={"by": "ana", "note": "seen"})
        assert acked.json() == {"acknowledged": "o1"}
        shelved = await client.post(
            "/alarms/p.hi/shelve", json={"by": "ana", "minutes": 30, "reason": "calibration"}
        )
        assert shelved.status_code == 200
        assert (await client.post("/alarms/gone/ack", json={"by": "ana"})).status_code == 404
        flagged = await client.post(
            "/alarms/p.hi/flags",
            json={"by": "ana", "suppressed": True, "out_of_service": False, "reason": "idle"},
        )
        assert flagged.status_code == 200
        bad = await client.post("/alarms/o1/ack", json={"by": "ana", "extra": 1})
        assert bad.status_code == 422 and "extra" in bad.json()["detail"]
        assert (await client.get("/nowhere")).status_code == 404
        assert (await client.get("/metrics")).text == "floorgate_agent_up 1.0\n"
        huge = await client.post("/alarms/o1/ack", content=b"x" * (MAX_BODY + 10))
        assert huge.status_code == 413
    assert calls == [
        ("ack", "o1", "ana", "seen", "agent-panel"),
        ("shelve", "p.hi", timedelta(minutes=30), "calibration", "ana"),
        ("flags", "p.hi", True, False, "ana", "idle"),
    ]
