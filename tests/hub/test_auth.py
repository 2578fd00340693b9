"""Auth through a real hub: login, bearer tokens, token kinds, expiry; plus the offline admin."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hub import admin
from hub.auth import repository
from hub.auth.credentials import hash_password, new_token, token_hash, verify_password
from hub.auth.service import AgentTokens
from hub.storage import Connection, Database, open_connection
from tests.hub.conftest import AGENT, PASSWORD, T0, FakeClock, RunningHub, batch, event


def test_login_returns_a_token_that_expires_after_the_ttl(
    anon: httpx.Client, clock: FakeClock
) -> None:
    reply = anon.post("/api/v1/auth/login", json={"username": "maria", "password": PASSWORD})
    assert reply.status_code == 200
    body = reply.json()
    assert datetime.fromisoformat(body["expires_at"]) == clock.now + timedelta(hours=12)
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert anon.get("/api/v1/alarms", headers=headers).status_code == 200

    clock.advance(timedelta(hours=12))
    expired = anon.get("/api/v1/alarms", headers=headers)
    assert expired.status_code == 401
    assert expired.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("username", "password"), [("maria", "wrong password"), ("nobody", PASSWORD)]
)
def test_bad_credentials_get_one_message(anon: httpx.Client, username: str, password: str) -> None:
    reply = anon.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert reply.status_code == 401
    assert reply.json() == {"detail": "invalid username or password"}


def test_login_with_a_malformed_body_is_422(anon: httpx.Client) -> None:
    reply = anon.post("/api/v1/auth/login", json={"username": "maria"})
    assert reply.status_code == 422
    assert "password" in reply.json()["detail"]


def test_api_needs_a_valid_bearer_token(anon: httpx.Client) -> None:
    routes = [("GET", "/api/v1/alarms"), ("GET", "/api/v1/events"), ("POST", "/api/v1/ingest")]
    for authorization in (None, "Bearer not-a-token", "Basic bWFyaWE6eA=="):
        headers = {"Authorization": authorization} if authorization else {}
        for method, path in routes:
            reply = anon.request(method, path, headers=headers, json=batch(event(1)))
            assert reply.status_code == 401, (authorization, path)
            assert isinstance(reply.json()["detail"], str)


def test_healthz_is_open(anon: httpx.Client) -> None:
    assert anon.get("/healthz").json() == {"status": "ok"}


def test_agent_token_cannot_read(agent: httpx.Client) -> None:
    assert agent.get("/api/v1/alarms").status_code == 403
    assert agent.get("/api/v1/events").status_code == 403


def test_user_token_cannot_ingest(user: httpx.Client) -> None:
    reply = user.post("/api/v1/ingest", json=batch(event(1)))
    assert reply.status_code == 403
    assert reply.json() == {"detail": "ingest requires an agent token"}


def test_new_agent_token_replaces_the_old_one(
    hub: RunningHub, agent_tokens: dict[str, str]
) -> None:
    hub.stop()
    fresh = admin.create_agent_token(hub.db_path, "line1")
    hub.start()
    with hub.client() as client:
        for token, status in ((agent_tokens["line1"], 401), (fresh, 200)):
            reply = client.post(
                "/api/v1/ingest",
                json=batch(event(1)),
                headers={"Authorization": f"Bearer {token}"},
            )
            assert reply.status_code == status


def test_each_token_kind_keeps_its_rights_over_many_requests(
    anon: httpx.Client, agent: httpx.Client, user: httpx.Client
) -> None:
    # Agent tokens are read once, then answered from memory: the answers must not change.
    for seq in range(1, 6):
        assert agent.post("/api/v1/ingest", json=batch(event(seq))).status_code == 200
        refused = agent.get("/api/v1/alarms")
        assert refused.status_code == 403
        assert refused.json() == {"detail": "agent tokens may only post to /api/v1/ingest"}
        reply = user.post("/api/v1/ingest", json=batch(event(seq)))
        assert reply.status_code == 403
        assert reply.json() == {"detail": "ingest requires an agent token"}
        unknown = anon.post(
            "/api/v1/ingest", json=batch(event(seq)), headers={"Authorization": "Bearer nope"}
        )
        assert unknown.status_code == 401


async def test_agent_tokens_remember_the_tokens_found_and_only_those(tmp_path: Path) -> None:
    db = Database(tmp_path / "hub.duckdb")
    await db.open()
    try:
        tokens, token = AgentTokens(), new_token()

        def issue(conn: Connection) -> None:
            repository.replace_agent_token(conn, AGENT, token_hash(token), T0)

        def revoke(conn: Connection) -> None:
            conn.execute("DELETE FROM agent_tokens")

        assert await tokens.agent_for(db, token) is None
        await db.write(issue)
        # Unknown a moment ago, not remembered as unknown: read again, and found.
        assert await tokens.agent_for(db, token) == AGENT
        # Found once, it is not read again (the hub holds the file: only it could change it).
        await db.write(revoke)
        assert await tokens.agent_for(db, token) == AGENT
        assert await AgentTokens().agent_for(db, token) is None
    finally:
        await db.close()


async def test_agent_tokens_forget_all_when_full(tmp_path: Path) -> None:
    db = Database(tmp_path / "hub.duckdb")
    await db.open()
    try:
        tokens = AgentTokens()
        tokens.MAX_KNOWN = 2
        issued = {f"line{n}": new_token() for n in range(1, 4)}

        def issue(conn: Connection) -> None:
            for agent_id, token in issued.items():
                repository.replace_agent_token(conn, agent_id, token_hash(token), T0)

        await db.write(issue)
        for agent_id, token in issued.items():
            assert await tokens.agent_for(db, token) == agent_id
        await db.write(lambda conn: conn.execute("DELETE FROM agent_tokens"))
        # The third found cleared the first two; it alone is still known.
        assert await tokens.agent_for(db, issued["line1"]) is None
        assert await tokens.agent_for(db, issued["line3"]) == "line3"
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("role", "password", "message"),
    [
        ("wizard", PASSWORD, "unknown role 'wizard'"),
        ("operator", "short", "at least 8 characters"),
        ("operator", "", "at least 8 characters"),
        ("maintenance", PASSWORD, "already exists"),
        ("panel", PASSWORD, "give at least one area"),  # areas=[] below
    ],
)
def test_add_user_refuses_bad_input(tmp_path: Path, role: str, password: str, message: str) -> None:
    path = tmp_path / "hub.duckdb"
    admin.add_user(path, "maria", "maintenance", PASSWORD, sites=[], areas=[])
    with pytest.raises(ValueError, match=message):
        admin.add_user(path, "maria" if "exists" in message else "otto", role, password, [], [])


def test_a_panel_is_the_device_of_an_area_and_has_no_pin(tmp_path: Path) -> None:
    path = tmp_path / "hub.duckdb"
    admin.add_user(path, "panel-press", "panel", PASSWORD, sites=["plant1"], areas=["press"])
    with pytest.raises(ValueError, match="people identify at it with their own PINs"):
        admin.set_pin(path, "panel-press", "246810")
    with open_connection(path) as conn:
        row = conn.execute("SELECT role, areas, pin_hash FROM users").fetchone()
    assert row == ("panel", ["press"], None)


def test_logout_revokes_the_session_token_and_is_audited(
    anon: httpx.Client, user: httpx.Client, user_token: str, agent: httpx.Client
) -> None:
    other = anon.post("/api/v1/auth/login", json={"username": "maria", "password": PASSWORD})
    maria = {"Authorization": f"Bearer {other.json()['token']}"}
    assert user.get("/api/v1/alarms").status_code == 200
    assert user.post("/api/v1/auth/logout").status_code == 204
    for method, path in (("GET", "/api/v1/alarms"), ("POST", "/api/v1/auth/logout")):
        reply = anon.request(method, path, headers={"Authorization": f"Bearer {user_token}"})
        assert reply.status_code == 401, path
    # Only that session ends: maria's goes on.
    assert anon.get("/api/v1/alarms", headers=maria).status_code == 200
    assert anon.post("/api/v1/auth/logout").status_code == 401
    assert agent.post("/api/v1/auth/logout").status_code == 403

    assert anon.post("/api/v1/auth/logout", headers=maria).status_code == 204
    again = anon.post("/api/v1/auth/login", json={"username": "ada", "password": PASSWORD})
    records = anon.get(
        "/api/v1/audit",
        params={"object_type": "user", "limit": 1000},
        headers={"Authorization": f"Bearer {again.json()['token']}"},
    ).json()["items"]
    logouts = [(r["actor"], r["object_id"]) for r in records if r["action"] == "logout"]
    assert logouts == [("user:ada", "ada"), ("user:maria", "maria")]


def test_admin_stores_hashes_not_secrets(tmp_path: Path) -> None:
    path = tmp_path / "hub.duckdb"
    admin.add_user(path, "otto", "planner", PASSWORD, sites=["p1"], areas=["a", "b"])
    token = admin.create_agent_token(path, "line9")
    with open_connection(path) as conn:
        user = conn.execute("SELECT role, sites, areas, password_hash FROM users").fetchone()
        stored_token = conn.execute("SELECT token_hash FROM agent_tokens").fetchone()
    assert user is not None and stored_token is not None
    assert user[:3] == ("planner", ["p1"], ["a", "b"])
    assert PASSWORD not in user[3] and verify_password(PASSWORD, user[3])
    assert token not in stored_token[0] and len(stored_token[0]) == 64


def test_agent_token_needs_a_valid_agent_id(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid agent id"):
        admin.create_agent_token(tmp_path / "hub.duckdb", "line 1")


def test_password_hash_is_salted_scrypt() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second
    assert first.startswith("scrypt$16384$8$1$")
    assert verify_password(PASSWORD, first)
    assert not verify_password(PASSWORD + "x", first)
    assert not verify_password(PASSWORD, "garbage")
