"""Shared by the governance tests: a hub with a playbook folder, signers with full names, and
small request helpers. The pump loop is slowed to an hour so that only the catch-up before each
inbox read or decision fires timers: tests move the clock and read, never sleep."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from hub import admin
from hub.governance.admin import set_full_name
from tests.hub.conftest import AGENT, PASSWORD, T0, FakeClock, RunningHub, batch, event, login

PRESS = {"site": "plant1", "area": "press", "line": "L1"}
EXTRA_USERS = {"quincy": ("quality", [], []), "mona": ("maintenance", ["plant1"], [])}
FULL_NAMES = {"quinn": "Quinn Quality", "pete": "Pete Production", "quincy": "Quincy Manager"}

PRESS_PLAYBOOK = """
id: press-hot
name: Press too hot
match: {rules: ["press1.temp.high"], categories: [equipment]}
snapshot: {tags: ["press1.*", "pack.lot"]}
steps:
  - id: fan-out
    kind: parallel
    steps:
      - id: inspect
        kind: task
        title: Inspect the press
        assignee: {role: maintenance}
        due: 10min
        remind_before: 2min
        escalate_to: [{role: supervisor}]
      - id: planners
        kind: constraint
        status: reduced
        capacity_impact_percent: 50
        reason: press running hot
        expected_end: 1h
      - id: check-parts
        kind: task
        title: Check the last parts
        assignee: {role: quality}
        required: false
  - id: release
    kind: approval
    title: Continue under deviation?
    meaning: I approve running the press under deviation
    mode: sequential
    approvers: [{role: quality}, {role: production}]
    due: 30min
    remind_before: 5min
    escalate_to: [{role: supervisor}]
    default_decision: reject
    on_approve: [{kind: write_tag, tag: press1.setpoint, value: 75}]
    on_reject: [{kind: hold_lot, lot_tag: pack.lot, reason: press drift}]
"""

AsUser = Callable[[str], httpx.Client]


def prepare_db(seeded: Path, target: Path) -> Path:
    shutil.copyfile(seeded, target)
    for name, (role, sites, areas) in EXTRA_USERS.items():
        admin.add_user(target, name, role, PASSWORD, sites=sites, areas=areas)
    for name, full in FULL_NAMES.items():
        set_full_name(target, name, full)
    return target


PANEL = "panel-a1"
"""The shared HMI panel of the press area (a device account, not a person)."""


def seed_with_panel(seeded: Path, tmp_path: Path) -> Path:
    """A copy of the seeded database with the ``PANEL`` account, to pass to start_hub."""
    seed = tmp_path / "seed-with-panel.duckdb"
    shutil.copyfile(seeded, seed)
    admin.add_user(seed, PANEL, "panel", PASSWORD, sites=["plant1"], areas=["press"])
    return seed


def start_hub(
    tmp_path: Path,
    seeded: Path,
    clock: FakeClock,
    tls: ssl.SSLContext,
    playbooks: dict[str, str],
    **settings: Any,
) -> RunningHub:
    """``settings``: more hub config sections (e.g. quick ``feeds`` and ``webhooks`` passes)."""
    folder = tmp_path / "playbooks"
    folder.mkdir(exist_ok=True)
    for name, text in playbooks.items():
        (folder / name).write_text(text, encoding="utf-8")
    db = prepare_db(seeded, tmp_path / "gov.duckdb")
    settings = {"playbooks": {"path": str(folder), "timer_poll_seconds": 3600}, **settings}
    hub = RunningHub(db, clock, tls, settings)
    hub.start()
    return hub


@contextmanager
def governed(
    tmp_path: Path,
    seeded_db: tuple[Path, dict[str, str]],
    clock: FakeClock,
    tls: ssl.SSLContext,
    playbooks: dict[str, str],
    *events: dict[str, Any],
    **settings: Any,
) -> Iterator[Clients]:
    """A hub running ``playbooks`` (see ``start_hub``) with its clients, after the agent has
    ingested ``events``; both are closed afterwards."""
    hub = start_hub(tmp_path, seeded_db[0], clock, tls, playbooks, **settings)
    clients = Clients(hub, seeded_db[1][AGENT])
    try:
        if events:
            ingest(clients.agent, *events)
        yield clients
    finally:
        clients.close()
        hub.stop()


class Clients:
    """Logged-in clients by user name, and the agent's client."""

    def __init__(self, hub: RunningHub, agent_token: str) -> None:
        self.hub = hub
        self.agent = hub.client(agent_token)
        self._anon = hub.client()
        self._users: dict[str, httpx.Client] = {}

    def __call__(self, username: str) -> httpx.Client:
        if username not in self._users:
            self._users[username] = self.hub.client(login(self._anon, username))
        return self._users[username]

    def close(self) -> None:
        for client in [self.agent, self._anon, *self._users.values()]:
            client.close()


def ingest(agent: httpx.Client, *events: dict[str, Any]) -> dict[str, Any]:
    reply = agent.post("/api/v1/ingest", json=batch(*events, agent_id=events[0]["agent_id"]))
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    assert body["rejected"] == []
    return body


def value(seq: int, tag: str, val: Any) -> dict[str, Any]:
    return event(seq, tag=tag, value=val, context=dict(PRESS))


def raised(
    seq: int, tag: str = "press1.temp", agent_id: str = AGENT, **context: Any
) -> dict[str, Any]:
    return event(
        seq,
        agent_id,
        type="alarm.raised",
        tag=tag,
        value=91.5,
        rule=f"{tag}.high",
        severity="high",
        category="equipment",
        context={**PRESS, **context},
    )


def ok(reply: httpx.Response) -> Any:
    assert reply.status_code == 200, reply.text
    return reply.json()


def items(client: httpx.Client, url: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(client.get(url, params=params))["items"]
    return found


def audit(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    return items(client, "/api/v1/audit", limit=1000, **params)


def actions(client: httpx.Client, **params: Any) -> list[str]:
    return [r["action"] for r in audit(client, **params)]


def decide(
    client: httpx.Client, approval_id: int, decision: str = "approve", password: str = PASSWORD
) -> httpx.Response:
    body = {"decision": decision, "reason": "checked the data", "password": password}
    return client.post(f"/api/v1/approvals/{approval_id}/decide", json=body)


MINUTE = timedelta(minutes=1)
__all__ = ["T0"]
