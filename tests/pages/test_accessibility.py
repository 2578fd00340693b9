"""Basic accessibility of every page, measured in chromium (see a11y.py for the checks)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.hub.conftest import RunningHub
from tests.pages.a11y import assert_accessible, unlabelled_controls, unreachable_by_keyboard
from tests.pages.conftest import Ingest, sign_in


def test_login_page(hub: RunningHub, page: Page) -> None:
    page.goto(f"{hub.url}/login")
    assert_accessible(page, touch=True)


def test_hmi_panel_and_its_dialogs_at_1024x600(hub: RunningHub, page: Page, ingest: Ingest) -> None:
    for rule, severity in (("a.hihi", "critical"), ("b.hi", "high"), ("c.lo", "medium"),
                           ("d.lo", "low")):  # fmt: skip
        ingest.raise_alarm(rule, "press.temperature", 90.0, severity)
    ingest.send("health", context={"site": "plant1", "area": "press", "source.press-plc": "up"})
    sign_in(page, hub.url, "panel-press")
    expect(page.locator("#alarm-list > li")).to_have_count(4)
    page.locator("#shelved-box summary").click()
    assert_accessible(page, touch=True)

    page.get_by_role("button", name="Acknowledge a.hihi on press.temperature").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    assert_accessible(page, touch=True)
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    # Focus returns to the button that opened the dialog.
    assert page.evaluate("() => document.activeElement.textContent") == "Acknowledge"

    page.get_by_role("button", name="Shelve d.lo on press.temperature").click()
    expect(page.get_by_role("dialog", name="Shelve alarm")).to_be_visible()
    assert_accessible(page, touch=True)


def test_pin_dialog(hub: RunningHub, page: Page) -> None:
    sign_in(page, hub.url, "maria")
    page.get_by_role("button", name="My PIN").click()
    expect(page.get_by_role("dialog", name="Set my PIN")).to_be_visible()
    assert unlabelled_controls(page) == []
    assert unreachable_by_keyboard(page) == []
