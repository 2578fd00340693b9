"""End to end in a real browser: simulated plant -> agent -> hub -> pages, all real processes.

A fault in the plant makes an alarm appear on the panel without a reload; a technician
acknowledges it with a PIN at the panel; the acknowledgement shows in the API and in the audit
as the person. The hub runs a playbook on that alarm: its approval shows on the planner board
of the line, is signed in the approvals inbox, and leaves the open board without a reload.
A lost source shows on the panel; the stale banner comes and goes with the hub.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import BrowserContext, Page, expect

from hub.governance.admin import set_full_name
from protocols.wire import utc_now
from tests.e2e.conftest import Processes, Stack, floorgate, wait_for, wait_until_healthy
from tests.pages.a11y import assert_accessible
from tests.pages.conftest import (
    DESKTOP_SIZE,
    PANEL_SIZE,
    PASSWORD,
    PIN,
    PLAYBOOK,
    login,
    screenshot,
    seed_users,
    sign_in,
)

pytestmark = pytest.mark.e2e

LINE = {"site": "plant1", "area": "press", "line": "line-1"}
"""Where the agent of this test reports from (its line comes from deploy/examples/agent.yaml)."""
APPROVAL = "Continue under deviation?"
"""The approval PLAYBOOK opens on press-temperature.hi, for the quality role (quinn)."""
REASON = "press cooled, parts within tolerance"


class GovernedStack(Stack):
    """The e2e stack with a hub config: PLAYBOOK, and the board's counter for the agent's line."""

    def __init__(self, tmp_path: Path, processes: Processes) -> None:
        super().__init__(tmp_path, processes)
        playbooks = tmp_path / "playbooks"
        playbooks.mkdir()
        (playbooks / "press-hot.yaml").write_text(PLAYBOOK)
        self.hub_config = tmp_path / "hub.yaml"
        counter = {"site": LINE["site"], "line": LINE["line"], "counter_tag": "pack.count"}
        settings = {
            "playbooks": {"path": str(playbooks), "timer_poll_seconds": 0.2},
            "planner": {"lines": [counter], "refresh_seconds": 0.5},
        }
        self.hub_config.write_text(yaml.safe_dump(settings))

    def start_hub(self) -> None:
        hub = self.processes.start(
            "hub", "hub", "--config", str(self.hub_config), "--db", str(self.db),
            "--port", str(self.hub_port),
        )  # fmt: skip
        wait_until_healthy(f"{self.hub_url}/healthz", hub)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = Processes(logs)
    try:
        stack = GovernedStack(tmp_path, processes)
        seed_users(stack.db)  # the panel device, the technicians (PINs included), quinn, pia
        set_full_name(stack.db, "quinn", "Quinn Quality")  # the printed name of the signature
        yield stack
    finally:
        processes.stop_all()


def open_page(context: BrowserContext, page_errors: list[str]) -> Page:
    """Another tab of the test's browser (its own sessionStorage, so its own login)."""
    page = context.new_page()
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    return page


def post_shift_plan(stack: Stack) -> None:
    """The planner uploads the current shift of the line: two hours at the sim's 40 parts/min."""
    now = utc_now()
    shift = {**LINE, "product": "bracket-A", "lot": "LOT-42", "shift": "early",
             "planned_rate_per_hour": 2400, "start": (now - timedelta(hours=1)).isoformat(),
             "end": (now + timedelta(hours=1)).isoformat()}  # fmt: skip
    with httpx.Client(base_url=stack.hub_url, timeout=10) as client:
        client.headers["Authorization"] = f"Bearer {login(client, 'pia')}"
        uploaded = client.post("/api/v1/plans", json={"entries": [shift]})
    assert uploaded.status_code == 200, uploaded.text


def sign_the_approval_with_the_planner_open(
    stack: Stack, context: BrowserContext, page_errors: list[str]
) -> None:
    """The planner watches line-1 with the playbook's approval open; quality signs it in the
    inbox; the board drops it without a reload."""
    post_shift_plan(stack)
    planner = open_page(context, page_errors)
    planner.set_viewport_size(DESKTOP_SIZE)
    sign_in(planner, stack.hub_url, "pia", "/planner")
    card = planner.locator(f"article.line-card[data-line='{LINE['line']}']")
    decisions = card.locator(".decisions")
    expect(decisions).to_contain_text(f"Approval: {APPROVAL}")
    expect(decisions).to_contain_text("Task: Inspect the press")
    expect(card.locator(".shift")).to_contain_text("bracket-A lot LOT-42")
    expect(card.locator("svg.chart")).to_be_visible()
    # The sim's pack.count through the agent: a count, not the "no counter configured" note.
    expect(card.locator(".figures")).to_contain_text("Rate now")
    planner.evaluate("() => { window.stillTheSamePage = true; }")  # gone if the page reloads
    screenshot(planner, "e2e-planner-open-decision-1920x1080")
    assert_accessible(planner)
    screenshot(planner, "e2e-planner-open-decision-1024x600", PANEL_SIZE)

    inbox = open_page(context, page_errors)
    sign_in(inbox, stack.hub_url, "quinn", "/approvals")
    approval_card = inbox.locator("article.approval", has_text=APPROVAL)
    expect(approval_card).to_have_count(1)
    expect(approval_card.locator(".snapshot")).to_contain_text("press.temperature")
    screenshot(inbox, "e2e-approvals-1024x600")
    screenshot(inbox, "e2e-approvals-1920x1080", DESKTOP_SIZE)
    assert_accessible(inbox)
    approval_card.get_by_text("Approve", exact=True).click()
    approval_card.get_by_label("Reason (required)").fill(REASON)
    approval_card.get_by_label("Password (your electronic signature)").fill(PASSWORD)
    approval_card.get_by_role("button", name="Sign decision").click()
    expect(inbox.locator("#approval-cards")).to_contain_text("No approval is waiting for you.")
    history = inbox.locator("#history-rows tr").first
    expect(history).to_contain_text(APPROVAL)
    expect(history).to_contain_text("APPROVE")
    screenshot(inbox, "e2e-approvals-signed-1920x1080")

    # The board re-reads open decisions every 5 s (expect's own default wait is 5 s too): the
    # signed approval leaves, the task stays.
    expect(decisions).not_to_contain_text(APPROVAL, timeout=5_000)
    expect(decisions).to_contain_text("Task: Inspect the press")
    assert planner.evaluate("() => window.stillTheSamePage") is True
    screenshot(planner, "e2e-planner-signed-1024x600")
    screenshot(planner, "e2e-planner-signed-1920x1080", DESKTOP_SIZE)
    assert_accessible(planner)
    inbox.close()
    planner.close()

    with stack.client() as client:
        (approval,) = client.get(
            "/api/v1/approvals", params={"assigned": "scope", "status": "approved"}
        ).json()["items"]
        assert (approval["title"], approval["line"]) == (APPROVAL, LINE["line"])
        (signature,) = approval["signatures"]
        assert (signature["user_id"], signature["full_name"], signature["decision"]) == (
            "quinn", "Quinn Quality", "approve",
        )  # fmt: skip
        records = client.get(
            "/api/v1/audit", params={"object_type": "approval", "object_id": approval["id"]}
        ).json()["items"]
        (signed,) = [r for r in records if r["action"] == "approval.signed"]
        assert (signed["actor"], signed["reason"]) == ("user:quinn", REASON)
        assert client.get("/api/v1/audit/verify").json()["ok"] is True


def test_a_plant_fault_reaches_the_panel_and_its_approval_is_signed_with_the_planner_live(
    stack: Stack, context: BrowserContext, page: Page, page_errors: list[str]
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

    sign_the_approval_with_the_planner_open(stack, context, page_errors)

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
