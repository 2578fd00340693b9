"""The HMI alarm panel in chromium against a real hub: sign in, live alarms, PIN dialogs.
(The stale-data banner is tested end to end, with the hub as a process: test_hmi_e2e.py.)"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.hub.conftest import RunningHub
from tests.pages.conftest import (
    DESKTOP_SIZE,
    PANEL_SIZE,
    PIN,
    Ingest,
    screenshot,
    sign_in,
)


def test_sign_in_refuses_a_wrong_password_then_lands_on_the_panel(
    hub: RunningHub, page: Page, ingest: Ingest, page_errors: list[str]
) -> None:
    page.goto(f"{hub.url}/hmi")
    page.wait_for_url("**/login?next=%2Fhmi")  # no session: sent to sign in first
    page.get_by_label("User name").fill("panel-press")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("invalid username or password")
    sign_in(page, hub.url, "panel-press")
    expect(page.locator("#who")).to_have_text("panel-press (panel · press)")
    expect(page.locator("#live-state")).to_have_text("Live")
    expect(page.get_by_text("No active alarms in this area.")).to_be_visible()
    # The session is this tab's: the token is in sessionStorage, not in a cookie.
    token = page.evaluate("() => JSON.parse(sessionStorage.getItem('floorgate.session')).token")
    assert page.context.cookies() == []
    # A panel device offers acknowledging only for a person with a PIN, has no PIN of its own,
    # and its session cannot acknowledge as itself, even when asked directly.
    ingest.raise_alarm("press-pressure.lo", "press.pressure", 80.0, "low")
    row = page.locator("#alarm-list > li").first
    expect(
        row.get_by_role("button", name="Acknowledge press-pressure.lo on press.pressure")
    ).to_be_visible()
    expect(page.get_by_role("button", name="My PIN")).to_be_hidden()
    direct = page.evaluate(DIRECT_ACK, row.get_attribute("data-id"))
    assert direct == [403, "role 'panel' may not call ack_alarm"]
    expect(row.locator(".state-text")).to_have_text("UNACKNOWLEDGED")

    # Signing out ends the session at the hub too: the token is refused from then on.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{hub.url}/login")
    assert page.evaluate("() => sessionStorage.getItem('floorgate.session')") is None
    with hub.client(token) as client:
        assert client.get("/api/v1/alarms").status_code == 401
    page.goto(f"{hub.url}/hmi")
    page.wait_for_url("**/login?next=%2Fhmi")
    assert page_errors == []


DIRECT_ACK = """
async (id) => {
  const session = JSON.parse(sessionStorage.getItem('floorgate.session'));
  const reply = await fetch(`/api/v1/alarms/${id}/ack`, {
    method: 'POST',
    headers: {Authorization: `Bearer ${session.token}`, 'Content-Type': 'application/json'},
    body: JSON.stringify({note: 'as the panel itself'}),
  });
  return [reply.status, (await reply.json()).detail];
}
"""


def alarm_rows(page: Page) -> list[str]:
    texts: list[str] = page.locator("#alarm-list > li .rule").all_inner_texts()
    return texts


def test_alarms_arrive_live_most_severe_first_and_are_acknowledged_with_a_pin(
    hub: RunningHub, page: Page, ingest: Ingest, as_user: Any, page_errors: list[str]
) -> None:
    ingest.send(
        "value", tag="press.pressure", value=80.0, context={"site": "plant1", "area": "press"}
    )
    ingest.raise_alarm("press-pressure.lo", "press.pressure", 80.0, "low")
    sign_in(page, hub.url, "panel-press")
    expect(page.locator("#alarm-list > li")).to_have_count(1)
    expect(page.locator("#live-state")).to_have_text("Live")

    # Without a reload: the raise reaches the page over the stream, sorted above the low one.
    ingest.raise_alarm("press-temperature.hi", "press.temperature", 84.5, "high")
    expect(page.locator("#alarm-list > li")).to_have_count(2)
    assert alarm_rows(page) == ["press-temperature.hi", "press-pressure.lo"]
    first = page.locator("#alarm-list > li").first
    expect(first.locator(".sev-text")).to_have_text("HIGH")  # text, not colour alone
    expect(first.locator(".sev img")).to_have_attribute("src", "/static/icons/sev-high.svg")
    expect(first.locator(".state-text")).to_have_text("UNACKNOWLEDGED")
    low = page.locator("#alarm-list > li").nth(1)
    expect(low.locator(".value-line")).to_contain_text("80")
    expect(low.locator(".value-line")).to_contain_text("old")  # the age of the value
    expect(page.locator("#alarm-counts")).to_have_text("2 active · 2 unacknowledged")
    screenshot(page, "hmi-alarms-1920x1080", DESKTOP_SIZE)
    page.set_viewport_size(PANEL_SIZE)
    screenshot(page, "hmi-alarms-1024x600")

    first.get_by_role(
        "button", name="Acknowledge press-temperature.hi on press.temperature"
    ).click()
    dialog = page.get_by_role("dialog", name="Acknowledge alarm")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Your user name").fill("maria")
    for digit in "000000":
        dialog.get_by_role("button", name=digit, exact=True).tap()
    dialog.get_by_role("button", name="Acknowledge").click()
    expect(dialog.get_by_role("alert")).to_have_text(
        "A note is required to acknowledge a high alarm."
    )
    dialog.get_by_role("button", name="Checked on site").tap()
    dialog.get_by_role("button", name="Acknowledge").click()
    expect(dialog.get_by_role("alert")).to_have_text("Wrong user name, PIN or password.")
    expect(dialog.get_by_label("Your PIN or password")).to_have_value("")  # cleared after a miss
    for digit in PIN:
        dialog.get_by_role("button", name=digit, exact=True).tap()
    screenshot(page, "hmi-ack-dialog-1024x600")
    dialog.get_by_role("button", name="Acknowledge").click()
    expect(dialog).to_be_hidden()
    expect(first.locator(".state-text")).to_have_text("ACKNOWLEDGED")
    expect(first).to_contain_text("ack maria")

    (acked,) = [
        a for a in as_user("ada").get("/api/v1/alarms").json()["items"] if a["acknowledged"]
    ]
    assert (acked["acked_by"], acked["ack_channel"], acked["ack_note"]) == (
        "maria", "hmi", "Checked on site",
    )  # fmt: skip
    assert page_errors == []


def test_shelving_takes_a_duration_and_a_reason(
    hub: RunningHub, page: Page, ingest: Ingest, page_errors: list[str]
) -> None:
    ingest.raise_alarm("silo-level.lo", "silo.level", 12.0, "medium")
    sign_in(page, hub.url, "panel-press")
    row = page.locator("#alarm-list > li").first
    row.get_by_role("button", name="Shelve silo-level.lo on silo.level").click()
    dialog = page.get_by_role("dialog", name="Shelve alarm")
    dialog.get_by_label("Your user name").fill("maria")
    dialog.get_by_label("Your PIN or password").fill(PIN)
    dialog.get_by_text("2 h", exact=True).tap()
    dialog.get_by_role("button", name="Shelve").click()
    expect(dialog.get_by_role("alert")).to_have_text("Choose how long, and give a reason.")
    dialog.get_by_label("Reason (required)").fill("level sensor replaced")
    dialog.get_by_role("button", name="Shelve").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("No active alarms in this area.")).to_be_visible()
    expect(page.locator("#shelved-title")).to_have_text("Shelved alarms (1)")
    expect(page.locator("#shelved-list")).to_contain_text("level sensor replaced")
    assert page_errors == []
