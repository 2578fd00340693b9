"""The role x endpoint matrix: every operation of the app, called by every role, an agent and
nobody, against a real hub. A route without a policy entry fails here first."""

from __future__ import annotations

import re
import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import admin
from hub.app import create_app
from hub.auth.policy import POLICY, Access
from hub.auth.schemas import Role
from hub.config import HubConfig
from tests.hub.conftest import AGENT, PASSWORD, T0, USERS, FakeClock, RunningHub, login

PANEL = ("panel-press", ["plant1"], ["press"])
"""The panel device, added to this module's hub only (the shared seed has people alone)."""
ONE_USER_PER_ROLE = {Role(role): name for name, (role, _, _) in reversed(USERS.items())}
ONE_USER_PER_ROLE[Role.PANEL] = PANEL[0]
STREAMS = {"stream_alarms", "stream_constraints", "stream_planner"}
"""Operations that answer with a never-ending stream: only the status line is read."""
ENDS_SESSION = {"logout"}
"""Operations called with a session of their own, so the shared ones live on."""


def operations() -> list[tuple[str, str, str]]:
    """(method, path, operation id) of every route, as the app's router publishes them."""
    spec: dict[str, Any] = create_app(HubConfig()).openapi()
    return [
        (method.upper(), path, op["operationId"])
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
    ]


def test_every_operation_has_exactly_one_policy_and_every_role_a_user() -> None:
    ids = [op for _, _, op in operations()]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(POLICY), "add the route to hub/auth/policy.py (or drop a stale entry)"
    assert set(ONE_USER_PER_ROLE) == set(Role)


def call(client: httpx.Client, method: str, path: str, op: str) -> int:
    url = re.sub(r"\{[^}]+\}", "1", path)
    if op in STREAMS:
        with client.stream(method, url) as reply:
            return reply.status_code
    body = {"agent_id": "line1", "events": []} if op == "ingest" else {}
    return client.request(method, url, json=body if method != "GET" else None).status_code


class Principals:
    """A client per principal (nobody, the agent, one user per role) of one hub."""

    def __init__(self, hub: RunningHub, agent_token: str) -> None:
        self.hub = hub
        self.clients = {"anonymous": hub.client(), "agent": hub.client(agent_token)}
        for role, username in ONE_USER_PER_ROLE.items():
            self.clients[role.value] = hub.client(login(self.clients["anonymous"], username))

    def for_call(self, who: str, op: str) -> httpx.Client:
        """The shared client, or for an operation that ends the session, a fresh one."""
        if op not in ENDS_SESSION or who in ("anonymous", "agent"):
            return self.clients[who]
        username = ONE_USER_PER_ROLE[Role(who)]
        fresh = self.hub.client(login(self.clients["anonymous"], username))
        self.clients[f"{who}:{op}"] = fresh  # closed with the others
        return fresh

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@pytest.fixture(scope="module")
def principals(
    tmp_path_factory: pytest.TempPathFactory,
    seeded_db: tuple[Path, dict[str, str]],
    tls_context: ssl.SSLContext,
) -> Iterator[Principals]:
    """One hub for the whole matrix (a hub and ten logins per route would take 20 s)."""
    path = tmp_path_factory.mktemp("matrix") / "hub.duckdb"
    shutil.copyfile(seeded_db[0], path)
    admin.add_user(path, PANEL[0], "panel", PASSWORD, sites=PANEL[1], areas=PANEL[2])
    hub = RunningHub(path, FakeClock(T0), tls_context)
    hub.start()
    principals = Principals(hub, seeded_db[1][AGENT])
    yield principals
    principals.close()
    hub.stop()


WHO = ["anonymous", "agent", *(role.value for role in Role)]


@pytest.mark.parametrize(("method", "path", "op"), operations())
def test_role_matrix(method: str, path: str, op: str, principals: Principals) -> None:
    rule = POLICY[op]
    outcome = {who: call(principals.for_call(who, op), method, path, op) for who in WHO}

    expected_denied: dict[str, int] = {}
    if rule.access is Access.OPEN:
        pass
    elif rule.access is Access.AGENT:
        expected_denied = {"anonymous": 401, **{role.value: 403 for role in Role}}
    else:
        expected_denied = {"anonymous": 401, "agent": 403}
        expected_denied |= {role.value: 403 for role in Role if role not in rule.roles}
    for who, status in outcome.items():
        if who in expected_denied:
            assert status == expected_denied[who], (op, who, status)
        else:
            assert status not in (401, 403), (op, who, status)


def test_a_panel_reads_its_area_and_acts_only_for_a_person() -> None:
    """The panel's row of the matrix, spelled out: what a shared HMI device may call."""
    panel_may = {op for op, rule in POLICY.items() if Role.PANEL in rule.roles}
    assert panel_may == {
        "logout", "whoami", "hmi_status",
        "list_events", "list_values", "list_alarms", "stream_alarms", "get_alarm", "alarm_history",
        "ack_alarm_on_behalf", "shelve_alarm_on_behalf",
    }  # fmt: skip
    # The plain routes, where a session acts as itself, are closed to the device.
    assert all(Role.PANEL not in POLICY[op].roles for op in ("ack_alarm", "shelve_alarm"))
