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

from hub.app import create_app
from hub.auth.policy import POLICY, Access
from hub.auth.schemas import Role
from hub.config import HubConfig
from tests.hub.conftest import AGENT, T0, USERS, FakeClock, RunningHub, login

ONE_USER_PER_ROLE = {Role(role): name for name, (role, _, _) in reversed(USERS.items())}
STREAMS = {"stream_alarms", "stream_constraints"}
"""Operations that answer with a never-ending stream: only the status line is read."""


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


@pytest.fixture(scope="module")
def principals(
    tmp_path_factory: pytest.TempPathFactory,
    seeded_db: tuple[Path, dict[str, str]],
    tls_context: ssl.SSLContext,
) -> Iterator[dict[str, httpx.Client]]:
    """One hub for the whole matrix (a hub and nine logins per route would take 20 s)."""
    path = tmp_path_factory.mktemp("matrix") / "hub.duckdb"
    shutil.copyfile(seeded_db[0], path)
    hub = RunningHub(path, FakeClock(T0), tls_context)
    hub.start()
    clients = {"anonymous": hub.client(), "agent": hub.client(seeded_db[1][AGENT])}
    for role, username in ONE_USER_PER_ROLE.items():
        clients[role.value] = hub.client(login(clients["anonymous"], username))
    yield clients
    for client in clients.values():
        client.close()
    hub.stop()


@pytest.mark.parametrize(("method", "path", "op"), operations())
def test_role_matrix(method: str, path: str, op: str, principals: dict[str, httpx.Client]) -> None:
    rule = POLICY[op]
    outcome = {who: call(client, method, path, op) for who, client in principals.items()}

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
