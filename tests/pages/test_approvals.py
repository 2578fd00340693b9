"""The approvals inbox in chromium against a real hub running a playbook: the live countdown,
the snapshot with the age of every figure, a decision signed with reason and password, and the
signer's history."""

from __future__ import annotations

from playwright.sync_api import Page, expect

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


def test_an_approval_is_signed_in_the_inbox(
    gov_hub: RunningHub, page: Page, gov_ingest: Ingest, gov_users: Users, page_errors: list[str]
) -> None:
    hub, ingest, as_user = gov_hub, gov_ingest, gov_users
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
