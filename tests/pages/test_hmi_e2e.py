"""End to end in a real browser: simulated plant -> agent -> hub -> /hmi, all real processes.

A fault in the plant makes an alarm appear on the panel without a reload; a technician
acknowledges it with a PIN at the panel; the acknowledgement shows in the API and in the audit
as the person; a lost source shows on the panel; the stale banner comes and goes with the hub.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Processes, Stack, floorgate, wait_for
from tests.pages.conftest import DESKTOP_SIZE, PANEL_SIZE, PIN, screenshot, seed_users, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = Processes(logs)
    try:
        stack = Stack(tmp_path, processes)
        seed_users(stack.db)  # the panel device and the technicians, PINs included
        yield stack
    finally:
        processes.stop_all()


def test_a_plant_fault_reaches_the_panel_and_is_acknowledged_with_a_pin(
    stack: Stack, page: Page, page_errors: list[str]
) -> None:
    stack.start_hub()
    stack.start_sim()
    config = stack.agent_config(
        site="plant1",
        area="press",
        health_interval="1s",
        rules=[
            {
                "kind": "threshold",
                "name": "press-temperature",
                "tag": "press.temperature",
                "hi": 80,
                "on_delay": "500ms",
                "category": "equipment",
            }
        ],
    )
    stack.processes.start("agent", "agent", "--config", str(config))

    sign_in(page, stack.hub_url, "panel-press")
    expect(page.locator("#live-state")).to_have_text("Live")
    expect(page.locator("#comm-list")).to_contain_text("press-plc: UP", timeout=20_000)
    expect(page.get_by_text("No active alarms in this area.")).to_be_visible()

    assert floorgate("sim", "fault", "overtemp", "--control", stack.control_url).returncode == 0
    row = page.locator("#alarm-list > li").first
    expect(row.locator(".rule")).to_have_text("press-temperature.hi", timeout=30_000)
    expect(row.locator(".sev-text")).to_have_text("HIGH")
    expect(row.locator(".comm")).to_have_text("Comm OK")
    expect(row.locator(".value-line")).to_contain_text("old", timeout=10_000)
    screenshot(page, "e2e-hmi-alarm-1024x600")

    row.get_by_role("button", name="Acknowledge press-temperature.hi on press.temperature").tap()
    dialog = page.get_by_role("dialog", name="Acknowledge alarm")
    dialog.get_by_label("Your user name").fill("maria")
    for digit in PIN:
        dialog.get_by_role("button", name=digit, exact=True).tap()
    dialog.get_by_label("Note (required for high)").fill("cooling water valve stuck, opened")
    dialog.get_by_role("button", name="Acknowledge").tap()
    expect(dialog).to_be_hidden()
    expect(row.locator(".state-text")).to_have_text("ACKNOWLEDGED")
    screenshot(page, "e2e-hmi-acknowledged-1920x1080", DESKTOP_SIZE)
    page.set_viewport_size(PANEL_SIZE)

    with stack.client() as client:
        (alarm,) = [
            a
            for a in client.get("/api/v1/alarms").json()["items"]
            if a["rule"] == "press-temperature.hi"
        ]
        assert (alarm["acked_by"], alarm["ack_channel"]) == ("maria", "hmi")
        assert alarm["ack_note"] == "cooling water valve stuck, opened"
        records = client.get(
            "/api/v1/audit", params={"object_type": "alarm", "object_id": alarm["id"]}
        ).json()["items"]
        (ack,) = [r for r in records if r["action"] == "alarm.acknowledged"]
        assert ack["actor"] == "user:maria"  # the person, not the panel
        people = client.get(
            "/api/v1/audit", params={"object_type": "user", "object_id": "maria"}
        ).json()["items"]
        assert [(r["action"], r["data"]["at"]) for r in people if r["data"]] == [
            ("identity.verified", "user:panel-press")
        ]
        assert client.get("/api/v1/audit/verify").json()["ok"] is True

        # The agent learns of the acknowledgement by command and reports it back.
        def acked_at_agent() -> Any:
            return client.get(
                "/api/v1/events", params={"agent_id": stack.agent_id, "type": "command.result"}
            ).json()["items"]

        wait_for(acked_at_agent, timeout=20)

    # The PLC stops answering: the source shows as down, and so does the data behind the alarm.
    assert floorgate("sim", "fault", "comm_loss", "--control", stack.control_url).returncode == 0
    expect(page.locator("#comm-list")).to_contain_text("press-plc: DOWN", timeout=20_000)
    expect(row.locator(".comm")).to_contain_text("COMM LOST", timeout=15_000)
    screenshot(page, "e2e-hmi-comm-lost-1024x600")
    floorgate("sim", "fault", "comm_loss", "--clear", "--control", stack.control_url)

    banner = page.locator("#stale-banner")
    assert stack.processes.stop("hub") == 0
    expect(banner).to_be_visible(timeout=15_000)
    screenshot(page, "e2e-hmi-stale-1024x600")
    stack.start_hub()  # same port: the page reconnects by itself
    expect(banner).to_be_hidden(timeout=20_000)
    expect(page.locator("#live-state")).to_have_text("Live")
    expect(row.locator(".state-text")).to_have_text("ACKNOWLEDGED")
    assert page_errors == []
    with contextlib.suppress(Exception):
        stack.processes.stop("agent")
