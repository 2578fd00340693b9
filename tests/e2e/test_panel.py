"""The agent's local panel keeps alarming and acknowledging while the hub is down."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack, floorgate, wait_for

pytestmark = pytest.mark.e2e


def test_panel_lists_and_acknowledges_alarms_with_the_hub_down(stack: Stack) -> None:
    stack.start_hub()
    stack.start_sim()
    config = stack.agent_config(
        rules=[
            {
                "kind": "threshold",
                "name": "press-temperature",
                "tag": "press.temperature",
                "hi": 80,
                "on_delay": "500ms",
            }
        ]
    )
    stack.processes.start("agent", "agent", "--config", str(config))
    panel = httpx.Client(base_url=f"http://127.0.0.1:{stack.panel_port}", timeout=5)
    wait_for(lambda: _ok(panel, "/healthz"), timeout=20)

    assert stack.processes.stop("hub") == 0  # the plant network is down from here on
    assert floorgate("sim", "fault", "overtemp", "--control", stack.control_url).returncode == 0

    def alarms() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = panel.get("/alarms").json()["items"]
        return items

    (alarm,) = wait_for(alarms, timeout=30)
    assert alarm["rule"] == "press-temperature.hi"
    assert alarm["state"] == "unack-active"

    refused = panel.post(f"/alarms/{alarm['id']}/ack", json={"by": ""})
    assert refused.status_code == 422
    unknown = panel.post("/alarms/nope/ack", json={"by": "ana"})
    assert unknown.status_code == 404
    acked = panel.post(f"/alarms/{alarm['id']}/ack", json={"by": "ana", "note": "on it"})
    assert acked.status_code == 200, acked.text
    (after,) = alarms()
    assert (after["state"], after["acked_by"], after["ack_note"]) == ("ack-active", "ana", "on it")

    metrics = panel.get("/metrics").text
    assert 'floorgate_agent_alarms_open{state="ack-active"} 1.0' in metrics
    assert "floorgate_agent_hub_reachable 0.0" in metrics

    # The hub comes back: the raise and the acknowledgement made offline both arrive.
    stack.start_hub()
    with stack.client() as client:

        def acked_event() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = client.get(
                "/api/v1/events", params={"agent_id": stack.agent_id, "type": "alarm.acked"}
            ).json()["items"]
            return items

        (event,) = wait_for(acked_event, timeout=30)
        assert event["context"]["by"] == "ana"
        assert event["context"]["channel"] == "agent-panel"
        assert event["context"]["occurrence"] == alarm["id"]
    panel.close()


def _ok(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.HTTPError:
        return False
