"""The audit log through a real hub and on the file: what is recorded, who may read it, and
that edits, deletions, insertions and swaps made directly in the DuckDB file are caught."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from floorgate.audit_cli import verify_command
from tests.hub.conftest import AGENT, OTHER_AGENT, PASSWORD, USERS, RunningHub

SEEDED = len(USERS) + 2
"""Records in the seeded database: one per user, one per agent token."""

AsUser = Callable[[str], httpx.Client]


def records(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    reply = client.get("/api/v1/audit", params={"limit": 1000, **params})
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def test_user_and_token_creation_are_recorded(as_user: AsUser) -> None:
    ada = as_user("ada")
    seeded = records(ada, actor="cli")
    assert [(r["seq"], r["action"], r["object_id"]) for r in seeded] == [
        *((i, "user.created", name) for i, name in enumerate(USERS, start=1)),
        (SEEDED - 1, "agent_token.created", AGENT),
        (SEEDED, "agent_token.created", OTHER_AGENT),
    ]
    assert seeded[0]["after"] == {
        "username": "maria",
        "role": "maintenance",
        "sites": ["plant1"],
        "areas": ["press"],
    }
    assert seeded[SEEDED - 2]["after"] == {"token": "present"}
    assert seeded[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(seeded))


def test_logins_are_recorded_success_and_failure(anon: httpx.Client, as_user: AsUser) -> None:
    bad = anon.post("/api/v1/auth/login", json={"username": "maria", "password": "nope"})
    assert bad.status_code == 401
    anon.post("/api/v1/auth/login", json={"username": "ghost", "password": PASSWORD})
    ada = as_user("ada")
    logins = [(r["action"], r["actor"]) for r in records(ada, object_type="user")[len(USERS) :]]
    assert logins == [
        ("login.failed", "user:maria"),
        ("login.failed", "user:ghost"),
        ("login.succeeded", "user:ada"),
    ]
    # No secret ever reaches the log.
    text = str(records(ada))
    assert PASSWORD not in text and "scrypt$" not in text


def test_filters_and_paging(as_user: AsUser, clock: Any) -> None:
    ada = as_user("ada")  # adds record SEEDED + 1 at the fake clock's time
    assert [r["object_id"] for r in records(ada, object_type="agent")] == [AGENT, OTHER_AGENT]
    assert [r["object_id"] for r in records(ada, object_id="otto")] == ["otto"]
    assert [r["action"] for r in records(ada, actor="user:ada")] == ["login.succeeded"]
    # Seeded records carry the real time of seeding; the login carries the hub's fake clock.
    window = {
        "since": clock.now.isoformat(),
        "until": (clock.now + timedelta(seconds=1)).isoformat(),
    }
    assert [r["seq"] for r in records(ada, **window)] == [SEEDED + 1]
    assert records(ada, since=window["until"], until=window["until"]) == []
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 4}
    while True:
        body = ada.get("/api/v1/audit", params=params).json()
        seen += [r["seq"] for r in body["items"]]
        if body["next"] is None:
            break
        params["after"] = body["next"]
    assert seen == list(range(1, SEEDED + 2))
    assert ada.get("/api/v1/audit", params={"since": "2026-03-01T08:00:00"}).status_code == 422


def test_who_may_read_and_verify(as_user: AsUser) -> None:
    for username, read, verify in [
        ("maria", 403, 403),
        ("pia", 403, 403),
        ("quinn", 200, 403),
        ("sam", 200, 200),
        ("ada", 200, 200),
    ]:
        client = as_user(username)
        assert client.get("/api/v1/audit").status_code == read, username
        assert client.get("/api/v1/audit/verify").status_code == verify, username


def test_scoped_readers_see_only_located_records_of_their_scope(as_user: AsUser) -> None:
    # Users, tokens and logins have no site: a supervisor scoped to plant1 does not see them.
    assert records(as_user("sam")) == []
    assert len(records(as_user("quinn"))) > SEEDED


def test_no_route_changes_the_audit(as_user: AsUser, anon: httpx.Client) -> None:
    ada = as_user("ada")
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/api/v1/audit", "/api/v1/audit/1", "/api/v1/audit/verify"):
            assert ada.request(method, path, json={}).status_code in (404, 405), (method, path)
    paths = anon.get("/openapi.json").json()["paths"]
    assert {m for p, ops in paths.items() if p.startswith("/api/v1/audit") for m in ops} == {"get"}


def test_verify_an_intact_chain(as_user: AsUser, hub: RunningHub, capsys: Any) -> None:
    reply = as_user("sam").get("/api/v1/audit/verify").json()
    assert reply["ok"] is True and reply["first_bad"] is None and reply["reason"] is None
    assert reply["records"] == SEEDED + 1  # sam's login
    anchor = f"{reply['records']}:{reply['head']}"
    sam = as_user("sam")
    assert sam.get("/api/v1/audit/verify", params={"anchor": anchor}).json()["ok"] is True
    forged = sam.get("/api/v1/audit/verify", params={"anchor": f"2:{'0' * 64}"}).json()
    assert (forged["ok"], forged["first_bad"]) == (False, 2)
    assert sam.get("/api/v1/audit/verify", params={"anchor": "2:xyz"}).status_code == 422
    hub.stop()
    assert verify_command(hub.db_path, [anchor]) == 0
    out = capsys.readouterr().out
    assert f"intact: {SEEDED + 1} records, head {reply['head']}" in out
    assert f"anchor (keep it outside the hub): {anchor}" in out
    assert verify_command(hub.db_path, [f"2:{'0' * 64}"]) == 1
    assert "BROKEN at record 2: hash differs from the anchor" in capsys.readouterr().out
    assert verify_command(hub.db_path, ["2:xyz"]) == 2


def _edit(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute('UPDATE audit_log SET after = \'{"role":"admin"}\' WHERE seq = 3')


def _edit_time(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("UPDATE audit_log SET recorded_at = recorded_at - INTERVAL 1 HOUR WHERE seq = 2")


def _delete(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("DELETE FROM audit_log WHERE seq = 4")


def _delete_last(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"DELETE FROM audit_log WHERE seq = {SEEDED}")


def _rewrite(conn: duckdb.DuckDBPyConnection, select: str) -> None:
    """Replace the whole table by ``select`` over a copy of it (the key makes in-place seq
    moves awkward; a forger would do the same)."""
    conn.execute("CREATE TEMP TABLE copy AS SELECT * FROM audit_log")
    conn.execute("DELETE FROM audit_log")
    conn.execute(f"INSERT INTO audit_log {select}")


def _insert(conn: duckdb.DuckDBPyConnection) -> None:
    # A record slipped in as seq 3, chained to record 2, with a made-up hash; the rest move up.
    _rewrite(
        conn,
        "SELECT * REPLACE (CASE WHEN seq >= 3 THEN seq + 1 ELSE seq END AS seq) FROM copy"
        " UNION ALL SELECT * REPLACE (3 AS seq, 'user:ada' AS actor, hash AS prev_hash,"
        " repeat('f', 64) AS hash) FROM copy WHERE seq = 2",
    )


def _swap(conn: duckdb.DuckDBPyConnection) -> None:
    _rewrite(
        conn,
        "SELECT * REPLACE (CASE seq WHEN 5 THEN 6 WHEN 6 THEN 5 ELSE seq END AS seq) FROM copy",
    )


TAMPERING = [
    (_edit, 3, "hash does not match"),
    (_edit_time, 2, "hash does not match"),
    (_delete, 4, "record 4 is missing"),
    (_delete_last, SEEDED, "missing from the end"),
    (_insert, 3, "hash does not match"),
    (_swap, 5, "prev_hash does not match the hash of record 4"),
]


@pytest.mark.parametrize(("tamper", "first_bad", "reason"), TAMPERING)
def test_tampering_in_the_file_is_named(
    db_path: Path,
    tmp_path: Path,
    clock: Any,
    tls_context: Any,
    capsys: Any,
    tamper: Callable[[duckdb.DuckDBPyConnection], None],
    first_bad: int,
    reason: str,
) -> None:
    conn = duckdb.connect(str(db_path))
    tamper(conn)
    conn.close()

    assert verify_command(db_path) == 1
    out = capsys.readouterr().out
    assert f"BROKEN at record {first_bad}: " in out and reason in out

    hub = RunningHub(db_path, clock, tls_context)
    hub.start()
    try:
        with hub.client() as anon:
            login = {"username": "ada", "password": PASSWORD}
            token = anon.post("/api/v1/auth/login", json=login).json()["token"]
            reply = anon.get("/api/v1/audit/verify", headers={"Authorization": f"Bearer {token}"})
    finally:
        hub.stop()
    body = reply.json()
    assert (body["ok"], body["first_bad"], body["records"]) == (False, first_bad, first_bad - 1)
    # The login appends a record: a cut-off end then shows as a gap before it.
    assert (reason if tamper is not _delete_last else f"record {SEEDED} is missing") in body[
        "reason"
    ]


def test_verify_command_on_a_missing_or_locked_file(hub: RunningHub, tmp_path: Path) -> None:
    assert verify_command(tmp_path / "nothing.duckdb") == 1
    assert verify_command(hub.db_path) == 1  # the running hub holds the lock
