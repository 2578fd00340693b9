"""The planner board and the audit view in chromium against a real hub running a playbook."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, expect

from hub.pages.chart import PlannedRun, cumulative, plan_vs_actual
from protocols.wire import utc_now
from tests.hub.conftest import RunningHub
from tests.pages.a11y import assert_accessible
from tests.pages.conftest import (
    DESKTOP_SIZE,
    PANEL_SIZE,
    PASSWORD,
    PIN,
    PRESS,
    Ingest,
    Users,
    screenshot,
    sign_in,
)


def test_plan_against_actual_bridges_counter_resets_and_projects_the_shift_end() -> None:
    t0 = utc_now().replace(microsecond=0)
    minute = timedelta(minutes=1)
    assert cumulative([(t0, 100), (t0 + minute, 160), (t0 + 2 * minute, 20)]) == [
        (t0, 0.0), (t0 + minute, 60.0), (t0 + 2 * minute, 80.0),
    ]  # fmt: skip
    readings = [(t0 + i * minute, 1000 + 5.0 * i) for i in range(31)]  # 300/h for 30 min
    figures = plan_vs_actual(
        readings, plan=[PlannedRun(t0, t0 + 120 * minute, 600)], now=t0 + 30 * minute
    )
    assert figures.produced == 150
    assert figures.planned_by_now == 300
    assert figures.rate_per_hour is not None and round(figures.rate_per_hour) == 300
    assert round(figures.projected_total) == 150 + 300 * 1.5
    assert round(figures.shortfall) == 1200 - 600


def test_the_board_follows_constraints_plans_and_decisions_live(
    gov_hub: RunningHub, page: Page, gov_ingest: Ingest, gov_users: Users, page_errors: list[str]
) -> None:
    hub, ingest, as_user = gov_hub, gov_ingest, gov_users
    now = utc_now()
    for minutes_ago in range(20, -1, -1):  # 240 per hour for the last 20 minutes
        at = now - timedelta(minutes=minutes_ago)
        ingest.send("value", at=at, tag="pack.count", value=5000 + 4 * (20 - minutes_ago),
                    context=PRESS)  # fmt: skip
    ingest.raise_alarm("press-temperature.hi", "press.temperature", 84.5, "high")
    page.set_viewport_size(DESKTOP_SIZE)
    sign_in(page, hub.url, "pia", "/planner")
    card = page.locator("article.line-card[data-line='line-1']")
    decisions = card.locator(".decisions")
    expect(decisions).to_contain_text("Approval: Continue under deviation?", timeout=10_000)
    expect(decisions).to_contain_text("Task: Inspect the press")
    expect(card.locator(".status")).to_contain_text("AVAILABLE")
    expect(card.locator(".chart-box")).to_contain_text("No plan for the current shift.")
    page.evaluate("() => { window.stillTheSamePage = true; }")  # gone if the page reloads

    # The press stops: the derived constraint reaches the board over the constraints stream.
    ingest.raise_alarm("press.stopped", "press.state", 0, "high")
    expect(card.locator(".status")).to_have_text("UNAVAILABLE")
    expect(card.locator(".constraints")).to_contain_text("UNAVAILABLE · capacity \u2212100%")
    # A plan is uploaded: plan against actual arrives over the planner stream.
    shift = {"site": "plant1", "area": "press", "line": "line-1", "product": "bracket-A",
             "lot": "LOT-42", "planned_rate_per_hour": 600, "shift": "early",
             "start": (now - timedelta(hours=1)).isoformat(),
             "end": (now + timedelta(hours=1)).isoformat()}  # fmt: skip
    uploaded = as_user("pia").post("/api/v1/plans", json={"entries": [shift]})
    assert uploaded.status_code == 200, uploaded.text
    expect(card.locator("svg.chart")).to_be_visible()
    expect(card.locator(".shift")).to_contain_text("Shift early")
    expect(card.locator(".shift")).to_contain_text("bracket-A lot LOT-42")
    figures = card.locator(".figures")
    expect(figures).to_contain_text("Produced80")
    expect(figures).to_contain_text("Rate now240/h (plan 600/h)")
    # 80 made, 240/h for the last hour of the shift: 320 of 1200, a shortfall of 880.
    expect(card.locator(".shortfall")).to_have_text("880")
    screenshot(page, "planner-1920x1080")
    assert_accessible(page)
    screenshot(page, "planner-1024x600", PANEL_SIZE)
    assert_accessible(page)

    # Signed elsewhere: the board drops the decision without a reload.
    (approval,) = as_user("quinn").get("/api/v1/approvals").json()["items"]
    signed = as_user("quinn").post(
        f"/api/v1/approvals/{approval['id']}/decide",
        json={"decision": "approve", "reason": "ok", "password": PASSWORD},
    )
    assert signed.status_code == 200, signed.text
    expect(decisions).not_to_contain_text("Continue under deviation?", timeout=5_000)
    expect(decisions).to_contain_text("Task: Inspect the press")
    assert page.evaluate("() => window.stillTheSamePage") is True
    assert page_errors == []


def test_the_audit_view_verifies_searches_and_shows_the_chain_of_an_occurrence(
    gov_hub: RunningHub, page: Page, gov_ingest: Ingest, gov_users: Users, page_errors: list[str]
) -> None:
    hub, ingest, as_user = gov_hub, gov_ingest, gov_users
    ingest.raise_alarm("press-temperature.hi", "press.temperature", 84.5, "high")
    panel = as_user("panel-press")
    (alarm,) = panel.get("/api/v1/alarms").json()["items"]
    acked = panel.post(
        f"/api/v1/alarms/{alarm['id']}/ack-on-behalf",
        json={"person": "maria", "secret": PIN, "note": "valve opened"},
    )
    assert acked.status_code == 200, acked.text
    (approval,) = as_user("quinn").get("/api/v1/approvals").json()["items"]
    as_user("quinn").post(
        f"/api/v1/approvals/{approval['id']}/decide",
        json={"decision": "reject", "reason": "parts out of tolerance", "password": PASSWORD},
    )

    page.set_viewport_size(DESKTOP_SIZE)
    sign_in(page, hub.url, "sam", "/audit")
    expect(page.locator("#verify-status")).to_contain_text("VERIFIED")
    page.get_by_label("Actor").fill("user:maria")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#audit-rows tr")
    expect(rows.filter(has_text="alarm.acknowledged")).to_have_count(1)
    expect(rows.filter(has_text="identity.verified")).to_have_count(1)
    assert_accessible(page)

    rows.filter(has_text="alarm.acknowledged").get_by_role("link").click()
    page.wait_for_url(f"**/audit?alarm={alarm['id']}")
    chain = page.locator("#chain-list")
    expect(chain).to_contain_text("alarm.raised")
    stages = chain.locator(".stage-pill").all_inner_texts()
    expected = ["Exception", "Response at the panel", "Task", "Decision"]
    assert [s for s in expected if s in stages] == expected
    expect(chain.locator("li", has_text="alarm.acknowledged")).to_contain_text("user:maria")
    expect(chain.locator("li", has_text="approval.signed")).to_contain_text(
        "parts out of tolerance"
    )
    expect(page.locator("#chain-runs")).to_contain_text("Playbook press-hot")
    screenshot(page, "audit-chain-1920x1080")
    assert_accessible(page)

    # Quality may read the trail but not run the verification.
    page.evaluate("() => sessionStorage.clear()")
    sign_in(page, hub.url, "quinn", "/audit")
    expect(page.locator("#verify-status")).to_contain_text("NOT CHECKED")
    assert page_errors == []
