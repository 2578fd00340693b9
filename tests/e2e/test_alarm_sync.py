"""Alarm flags sync both ways between a real agent and a real hub: shelve and unshelve made at
the agent's panel are applied to the hub's occurrence; shelve, suppress and out-of-service made
at the hub are applied to the agent's alarm board (read from its buffer file)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack, wait_for

pytestmark = pytest.mark.e2e

RULE = "press-temperature.hi"


def _board(stack: Stack) -> dict[str, dict[str, Any]]:
    """The agent's saved alarm board: definitions by alarm id (safe to read while it runs)."""
    with sqlite3.connect(stack.buffer_path) as db:
        row = db.execute("SELECT value FROM state WHERE key = 'alarm_board'").fetchone()
    if row is None:
        return {}
    _, definitions = json.loads(row[0])
    return {d["rule"]: d for d in definitions}


def test_shelve_and_flags_sync_both_ways(stack: Stack) -> None:
    stack.start_hub()
    stack.start_sim()
    # The press runs at about 62 degC: this alarm is active from the first scan.
    rule = {"kind": "threshold", "name": "press-temperature", "tag": "press.temperature", "hi": 50}
    stack.processes.start("agent", "agent", "--config", str(stack.agent_config(rules=[rule])))
    panel = httpx.Client(base_url=f"http://127.0.0.1:{stack.panel_port}", timeout=5)

    with stack.client() as hub:

        def alarm() -> dict[str, Any] | None:
            items = hub.get("/api/v1/alarms", params={"agent_id": stack.agent_id}).json()["items"]
            return next((a for a in items if a["rule"] == RULE), None)

        def last(alarm_id: int) -> dict[str, Any]:
            entry: dict[str, Any] = hub.get(f"/api/v1/alarms/{alarm_id}/history").json()[-1]
            return entry

        raised = wait_for(alarm, timeout=30)
        alarm_id = raised["id"]

        # Agent panel -> hub.
        body = {"by": "ana", "minutes": 30, "reason": "sensor swap"}
        assert panel.post(f"/alarms/{RULE}/shelve", json=body).status_code == 200
        shelved = wait_for(lambda: (a := alarm()) and a["state"] == "shelved" and a, timeout=20)
        assert shelved["shelve_reason"] == "sensor swap"
        entry = last(alarm_id)
        assert (entry["action"], entry["actor"], entry["channel"], entry["reason"]) == (
            "shelved",
            f"panel:{stack.agent_id}:ana",
            "agent-panel",
            "sensor swap",
        )
        body = {"by": "ana", "minutes": 0, "reason": "swapped"}
        assert panel.post(f"/alarms/{RULE}/shelve", json=body).status_code == 200
        wait_for(lambda: (a := alarm()) and a["state"] == "unack-active", timeout=20)
        assert last(alarm_id)["action"] == "unshelved"

        # Hub -> agent: each change is a command, applied to the board and answered.
        url = f"/api/v1/alarms/{alarm_id}"
        assert hub.post(f"{url}/suppress", json={"reason": "line idle"}).status_code == 200
        wait_for(lambda: _board(stack).get(RULE, {}).get("suppressed") is True, timeout=20)
        assert hub.post(f"{url}/out-of-service", json={"reason": "probe out"}).status_code == 200
        wait_for(lambda: _board(stack)[RULE]["out_of_service"] is True, timeout=20)
        reply = hub.post(f"{url}/shelve", json={"minutes": 20, "reason": "hub shelve"})
        assert reply.status_code == 200
        until = reply.json()["shelved_until"]
        wait_for(lambda: _board(stack)[RULE]["shelve_reason"] == "hub shelve", timeout=20)
        definition = _board(stack)[RULE]
        assert definition["shelved_by"] == "user:admin"
        assert definition["shelved_until"].replace("+00:00", "Z") == until
        # The technician at the agent's panel sees it too, beside the alarm.
        [item] = [i for i in panel.get("/alarms").json()["items"] if i["rule"] == RULE]
        assert (item["suppressed"], item["out_of_service"], item["shelve_reason"]) == (
            True,
            True,
            "hub shelve",
        )
        assert item["shelved_until"].replace("+00:00", "Z") == until

        def results() -> list[dict[str, Any]]:
            items = hub.get(
                "/api/v1/events", params={"agent_id": stack.agent_id, "type": "command.result"}
            ).json()["items"]
            return [e["context"] for e in items]

        done = wait_for(lambda: len(results()) >= 3 and results(), timeout=20)
        assert [(r["kind"], r["ok"]) for r in done] == [
            ("flag", True),
            ("flag", True),
            ("shelve", True),
        ]
        # The hub's own changes are not echoed back as events by the agent.
        history = hub.get(f"{url}/history").json()
        assert [h["channel"] for h in history[-3:]] == ["api", "api", "api"]
    panel.close()
