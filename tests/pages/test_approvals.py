"""The approvals inbox in chromium against a real hub running a playbook: the live countdown,
the snapshot with the age of every figure (live values, inventory, supply), a decision signed
with reason and password, and the signer's history."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from playwright.sync_api import Page, expect

from protocols.wire import utc_now
from tests.hub.conftest import RunningHub
from tests.pages.a11y import assert_accessible
from tests.pages.conftest import (
    DESKTOP_SIZE,
    PASSWORD,
    PRESS,
    Ingest,
    Users,
    screenshot,
    sign_in,
)


def post_resin(client: httpx.Client) -> None:
    """The silo's stock (five minutes old) and a supplier's late delivery, in the press area."""
    as_of = (utc_now() - timedelta(minutes=5, seconds=10)).isoformat()
    where = {"site": PRESS["site"], "area": PRESS["area"], "item": "resin", "unit": "kg"}
    positions = [{**where, "location": "silo-2", "quantity": 1200, "as_of": as_of}]
    commitments = [{**where, "reference": "PO-1", "supplier": "ResinCo", "quantity": 5000,
                    "due_at": as_of, "status": "at_risk", "as_of": as_of}]  # fmt: skip
    for url, body in (
        ("inventory", {"positions": positions}),
        ("supply", {"commitments": commitments}),
    ):
        reply = client.post(f"/api/v1/{url}", json={"source_system": "erp", **body})
        assert reply.status_code == 200, reply.text


def test_an_approval_is_signed_in_the_inbox(
    gov_hub: RunningHub, page: Page, gov_ingest: Ingest, gov_users: Users, page_errors: list[str]
) -> None:
    hub, ingest, as_user = gov_hub, gov_ingest, gov_users
    post_resin(as_user("ada"))
    ingest.send("value", tag="press.temperature", value=84.5, context=PRESS)
    ingest.raise_alarm("press-temperature.hi", "press.temperature", 84.5, "high")
    sign_in(page, hub.url, "quinn", "/approvals")
    card = page.locator("article.approval")
    expect(card).to_have_count(1, timeout=10_000)
    expect(card.locator("h3")).to_have_text("Continue under deviation?")
    expect(card.locator(".countdown")).to_contain_text("due in 29 min")
    expect(card.locator(".snapshot")).to_contain_text("press.temperature")
    expect(card.locator(".snapshot")).to_contain_text("84.50")
    expect(card.locator(".snapshot")).to_contain_text("old when captured")
    expect(card.locator(".snapshot-items.inventory")).to_contain_text("resin")
    expect(card.locator(".snapshot-items.inventory")).to_contain_text("5 min")
    expect(card.locator(".snapshot-items.supply")).to_contain_text("ResinCo (PO-1)")
    expect(card.locator(".snapshot-items.supply")).to_contain_text("at risk")
    expect(card).to_contain_text("Not escalated")
    expect(page.locator("#task-cards")).to_contain_text("No task is waiting for you.")
    screenshot(page, "approvals-1920x1080", DESKTOP_SIZE)
    assert_accessible(page)

    card.get_by_text("Approve", exact=True).click()
    card.get_by_label("Reason (required)").fill("parts measured within tolerance")
    card.get_by_label("Password (your electronic signature)").fill("not my password")
    card.get_by_role("button", name="Sign decision").click()
    expect(card.get_by_role("alert")).to_have_text("Wrong password: the decision was not signed.")
    card.get_by_label("Password (your electronic signature)").fill(PASSWORD)
    card.get_by_role("button", name="Sign decision").click()
    expect(page.locator("#approval-cards")).to_contain_text("No approval is waiting for you.")
    history = page.locator("#history-rows tr").first
    expect(history).to_contain_text("Continue under deviation?")
    expect(history).to_contain_text("APPROVE")
    expect(history).to_contain_text("parts measured within tolerance")

    (approval,) = (
        as_user("ada")
        .get("/api/v1/approvals", params={"assigned": "scope", "status": "approved"})
        .json()["items"]
    )
    (signature,) = approval["signatures"]
    assert (signature["user_id"], signature["full_name"], signature["decision"]) == (
        "quinn", "Quinn Quality", "approve",
    )  # fmt: skip
    assert page_errors == []


def test_a_task_is_completed_from_the_inbox(
    gov_hub: RunningHub, page: Page, gov_ingest: Ingest, page_errors: list[str]
) -> None:
    hub, ingest = gov_hub, gov_ingest
    ingest.raise_alarm("press-temperature.hi", "press.temperature", 84.5, "high")
    sign_in(page, hub.url, "maria", "/approvals")
    card = page.locator("article.task")
    expect(card).to_have_count(1, timeout=10_000)
    expect(card).to_contain_text("Check the cooling water valve.")
    expect(card.locator(".countdown")).to_contain_text("due in 9 min")
    card.get_by_label("Note").fill("valve opened")
    card.get_by_role("button", name="Complete task").click()
    expect(page.locator("#task-cards")).to_contain_text("No task is waiting for you.")
    assert page_errors == []


def test_a_task_reports_when_the_equipment_is_back(
    gov_hub: RunningHub,
    page: Page,
    gov_ingest: Ingest,
    gov_users: Users,
    page_errors: list[str],
) -> None:
    hub, ingest = gov_hub, gov_ingest
    ingest.raise_alarm("press-feeder.jammed", "press.feeder", 1, "high")
    sign_in(page, hub.url, "maria", "/approvals")
    card = page.locator("article.task")
    expect(card).to_have_count(1, timeout=10_000)
    back = card.get_by_label("Expected back at", exact=False)
    # Two hours from now in the browser's own zone, as a person types it.
    local = page.evaluate(
        "() => { const d = new Date(Date.now() + 2 * 3600e3); d.setSeconds(0, 0);"
        " return new Date(d - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16); }"
    )
    back.fill(local)
    card.get_by_label("Note").fill("chip stuck in the guide")
    card.get_by_role("button", name="Complete task").click()
    expect(page.locator("#task-cards")).to_contain_text("No task is waiting for you.")
    [constraint] = [
        c
        for c in gov_users("pia").get("/api/v1/constraints").json()["constraints"]
        if c["equipment"] == "press-feeder"
    ]
    left = datetime.fromisoformat(constraint["expected_end"]) - utc_now()
    assert timedelta(hours=1, minutes=58) < left <= timedelta(hours=2), constraint
    assert_accessible(page)
    assert page_errors == []
