"""Pages in a real browser: a real hub on loopback (uvicorn in a thread, real clock) and Debian's
chromium driven by Playwright (no browser download). One browser per session, a fresh context
(its own sessionStorage) per test; everything is closed at teardown."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from hub import admin
from hub.auth import service as auth
from hub.governance.admin import set_full_name
from hub.storage import open_connection, run_in_transaction
from protocols.wire import utc_now
from tests.hub.conftest import FakeClock, RunningHub

# Before the tests import it: the checks' own asserts then explain themselves when they fail.
pytest.register_assert_rewrite("tests.pages.a11y")

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "pages"
CHROMIUM = "/usr/bin/chromium"
# As root chromium needs --no-sandbox; the rest keep it off the (closed) network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PANEL_SIZE = {"width": 1024, "height": 600}
DESKTOP_SIZE = {"width": 1920, "height": 1080}

PASSWORD = "correct horse battery"
PIN = "246810"
AGENT = "press-gw"
PRESS = {"site": "plant1", "area": "press", "line": "line-1"}
PAINT = {"site": "plant1", "area": "paint", "line": "line-2"}

USERS: dict[str, tuple[str, list[str], list[str], str | None]] = {
    # username: (role, sites, areas, PIN)
    "panel-press": ("panel", ["plant1"], ["press"], None),
    "maria": ("maintenance", ["plant1"], ["press"], PIN),
    "otto": ("maintenance", ["plant1"], ["paint"], "135791"),
    "quinn": ("quality", [], [], None),
    "pia": ("planner", [], [], None),
    "sam": ("supervisor", ["plant1"], [], None),
    "ada": ("admin", [], [], None),
}


class RealClock(FakeClock):
    """The wall clock: pages compare hub times with the browser's (via the Date header)."""

    def __init__(self) -> None:
        super().__init__(utc_now())

    def __call__(self) -> datetime:
        return utc_now()


def seed_users(path: Path) -> None:
    """The USERS, with their PINs set the way the CLI will (prepare, then store)."""
    for username, (role, sites, areas, pin) in USERS.items():
        admin.add_user(path, username, role, PASSWORD, sites=sites, areas=areas)
        if pin is not None:
            pin_hash = auth.prepare_pin(pin)
            with open_connection(path) as conn:
                run_in_transaction(
                    conn, lambda c, u=username, h=pin_hash: auth.store_pin(c, u, h, utc_now())
                )


@pytest.fixture(scope="session")
def pages_seed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("pages-seed") / "hub.duckdb"
    seed_users(path)
    return path, admin.create_agent_token(path, AGENT)


@pytest.fixture
def hub(
    tmp_path: Path, pages_seed: tuple[Path, str], tls_context: ssl.SSLContext
) -> Iterator[RunningHub]:
    path = tmp_path / "hub.duckdb"
    shutil.copyfile(pages_seed[0], path)
    running = RunningHub(path, RealClock(), tls_context)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


@pytest.fixture
def agent(hub: RunningHub, pages_seed: tuple[Path, str]) -> Iterator[httpx.Client]:
    with hub.client(pages_seed[1]) as client:
        yield client


def login(client: httpx.Client, username: str) -> str:
    reply = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    token = reply.json()["token"]
    assert isinstance(token, str)
    return token


class Users:
    """``users("ada")``: an API client of ``hub`` logged in as that user."""

    def __init__(self, hub: RunningHub) -> None:
        self.hub = hub
        self.clients: dict[str, httpx.Client] = {}

    def __call__(self, username: str) -> httpx.Client:
        if username not in self.clients:
            with self.hub.client() as anon:
                self.clients[username] = self.hub.client(login(anon, username))
        return self.clients[username]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@pytest.fixture
def as_user(hub: RunningHub) -> Iterator[Users]:
    users = Users(hub)
    yield users
    users.close()


class Ingest:
    """Posts wire events as the agent, with increasing seq and the current time."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.seq = 0

    def send(self, type: str, at: datetime | None = None, **fields: Any) -> None:
        self.seq += 1
        now = utc_now()
        at = at or now - timedelta(milliseconds=50)
        body = {
            "event_id": f"{AGENT}:{self.seq}",
            "agent_id": AGENT,
            "seq": self.seq,
            "type": type,
            "quality": "good",
            "source_time": at.isoformat(),
            "agent_time": now.isoformat(),
            **fields,
        }
        reply = self.client.post("/api/v1/ingest", json={"agent_id": AGENT, "events": [body]})
        assert reply.status_code == 200, reply.text
        assert reply.json()["accepted"] == [body["event_id"]], reply.text

    def raise_alarm(
        self, rule: str, tag: str, value: float, severity: str, where: dict[str, str] = PRESS
    ) -> None:
        self.send(
            "alarm.raised",
            tag=tag,
            value=value,
            rule=rule,
            severity=severity,
            category="equipment",
            context={**where, "occurrence": f"{rule}#{self.seq + 1}"},
        )


@pytest.fixture
def ingest(agent: httpx.Client) -> Ingest:
    return Ingest(agent)


PLAYBOOK = """
id: press-hot
name: Press too hot
match: {rules: ["press-temperature.hi"]}
snapshot: {tags: ["press.*"]}
steps:
  - id: fan-out
    kind: parallel
    steps:
      - id: inspect
        kind: task
        title: Inspect the press
        instructions: Check the cooling water valve.
        assignee: {role: maintenance}
        due: 10min
        escalate_to: [{role: supervisor}]
      - id: release
        kind: approval
        title: Continue under deviation?
        meaning: I approve running the press under deviation
        approvers: [{role: quality}]
        due: 30min
        escalate_to: [{role: supervisor}]
"""

JAM_PLAYBOOK = """
id: press-jam
name: Press feeder jammed
match: {rules: ["press-feeder.jammed"]}
steps:
  - id: fan-out
    kind: parallel
    steps:
      - id: clear-jam
        kind: task
        title: Clear the feeder jam
        reports: [expected_end]
        assignee: {role: maintenance}
        due: 10min
      - id: feeder-down
        kind: constraint
        equipment: press-feeder
        status: reduced
        capacity_impact_percent: 50
        reason: feeder jammed
        expected_end: 30min
"""
"""A task whose completion reports when the equipment is back (the inbox shows a time field)."""


@pytest.fixture
def gov_hub(
    tmp_path: Path, pages_seed: tuple[Path, str], tls_context: ssl.SSLContext
) -> Iterator[RunningHub]:
    """A hub with one playbook and a counter for the planner board on line-1; signers have
    their printed names set."""
    path = tmp_path / "gov.duckdb"  # never the file of the plain ``hub`` fixture
    shutil.copyfile(pages_seed[0], path)
    set_full_name(path, "quinn", "Quinn Quality")
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "press-hot.yaml").write_text(PLAYBOOK)
    (folder / "press-jam.yaml").write_text(JAM_PLAYBOOK)
    settings = {
        "playbooks": {"path": str(folder), "timer_poll_seconds": 0.2},
        # line-1 (PRESS) counts good parts on pack.count; line-2 (PAINT) has no counter.
        "planner": {
            "lines": [{"site": "plant1", "line": "line-1", "counter_tag": "pack.count"}],
            "refresh_seconds": 0.5,
        },
    }
    running = RunningHub(path, RealClock(), tls_context, settings)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def gov_users(gov_hub: RunningHub) -> Iterator[Users]:
    users = Users(gov_hub)
    yield users
    users.close()


@pytest.fixture
def gov_ingest(gov_hub: RunningHub, pages_seed: tuple[Path, str]) -> Iterator[Ingest]:
    with gov_hub.client(pages_seed[1]) as client:
        yield Ingest(client)


# Package scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and the async tests of the packages after this one need that thread free.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=PANEL_SIZE, has_touch=True)
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught script errors of ``page``: a test asserts there are none."""
    return []


@pytest.fixture
def page(context: BrowserContext, page_errors: list[str]) -> Page:
    page = context.new_page()
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    return page


def sign_in(page: Page, base_url: str, username: str, next_path: str = "/hmi") -> None:
    """Through the login page, as a person would."""
    page.goto(f"{base_url}/login?next={next_path}")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}{next_path}*")


def screenshot(page: Page, name: str, size: dict[str, int] | None = None) -> Path:
    """Saved under test-artifacts/pages/ (gitignored), at ``size`` if given."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if size is not None:
        page.set_viewport_size(size)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
