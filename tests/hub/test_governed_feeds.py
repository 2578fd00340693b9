"""Governance through the feeds' own services, against a real hub: a playbook's constraint is on
the board and the SSE stream and ends with its run; a playbook's webhook and the run's outcome
go out signed through the delivery log; a governed hold and a feed hold share one hold list at
the agent; and the migration that retired governance's own tables keeps their rows."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from hub.storage import MIGRATIONS, migrate
from tests.hub.conftest import AGENT, T0, FakeClock
from tests.hub.feeds_helpers import FAST_FEEDS, SECRET, receiving
from tests.hub.governance_helpers import (
    MINUTE,
    PRESS_PLAYBOOK,
    Clients,
    actions,
    decide,
    governed,
    ingest,
    items,
    ok,
    raised,
    value,
)
from tests.hub.test_constraints import sse

PLAYBOOK = PRESS_PLAYBOOK.replace(
    "on_reject: [{kind: hold_lot, lot_tag: pack.lot, reason: press drift}]",
    "on_reject: [{kind: hold_lot, lot_tag: pack.lot, reason: press drift},"
    " {kind: webhook, event: press.rejected}]",
)


@pytest.fixture
def gov(
    tmp_path: Path,
    seeded_db: tuple[Path, dict[str, str]],
    clock: FakeClock,
    tls_context: ssl.SSLContext,
) -> Iterator[Clients]:
    with governed(
        tmp_path,
        seeded_db,
        clock,
        tls_context,
        {"press.yaml": PLAYBOOK},
        value(1, "pack.lot", "LOT-42"),
        **FAST_FEEDS,
    ) as clients:
        yield clients


def start_run(gov: Clients, seq: int = 2) -> dict[str, Any]:
    ingest(gov.agent, raised(seq))
    [run] = items(gov("ada"), "/api/v1/runs")  # the read catches the pump up first
    return run


def reject(gov: Clients) -> dict[str, Any]:
    """Finish the run's tasks (maria last: she requested the approval), then quinn rejects."""
    for username in ("quinn", "maria"):
        [task] = items(gov(username), "/api/v1/tasks")
        ok(gov(username).post(f"/api/v1/tasks/{task['id']}/complete", json={}))
        gov.hub.clock.advance(MINUTE)
    [approval] = items(gov("quinn"), "/api/v1/approvals")
    decided: dict[str, Any] = ok(decide(gov("quinn"), approval["id"], "reject"))
    return decided


def hold_lists(agent: httpx.Client, seq: int) -> list[dict[str, Any]]:
    reply = ingest(agent, value(seq, "press1.temp", 70.0))
    return [c for c in reply["commands"] if c["kind"] == "holds"]


def test_a_governed_constraint_is_on_the_board_and_stream_and_ends_with_its_run(
    gov: Clients,
) -> None:
    planner, ada = gov("pia"), gov("ada")
    with sse(planner) as stream:
        assert next(stream)[0] == "ready"
        run = start_run(gov)
        name, _, change = next(stream)
        assert (name, change["change"]) == ("constraint", "opened")
        posted = change["constraint"]
        assert (posted["source"], posted["run_id"], posted["status"]) == (
            "playbook",
            run["id"],
            "reduced",
        )
        assert (posted["equipment"], posted["capacity_impact_percent"]) == ("L1", 50)
        assert posted["expected_end"] is not None and posted["posted_by"] == "system"
        [on_board] = ok(planner.get("/api/v1/constraints"))["constraints"]
        assert on_board["id"] == posted["id"]
        chain = ok(ada.get(f"/api/v1/runs/{run['id']}"))
        assert [c["id"] for c in chain["constraints"]] == [posted["id"]]
        [action] = [a for a in chain["actions"] if a["kind"] == "constraint"]
        assert (action["status"], action["payload"]["constraint_id"]) == ("done", posted["id"])

        reject(gov)
        resolved = ada.post(
            f"/api/v1/runs/{run['id']}/resolve", json={"resolution_code": "fixed", "note": "ok"}
        )
        assert ok(resolved)["constraints"][0]["end_reason"] == "run resolved"
        # The hold's lot_held constraint opened on the reject; then the run's constraint ends.
        seen = [next(stream)[2] for _ in range(2)]
        assert {(c["change"], c["constraint"]["status"]) for c in seen} == {
            ("opened", "lot_held"),
            ("ended", "reduced"),
        }
    board = ok(planner.get("/api/v1/constraints"))["constraints"]
    assert [c["status"] for c in board] == ["lot_held"]
    ended = [r for r in items(ada, "/api/v1/audit", object_type="constraint")]
    assert [(r["action"], r["actor"]) for r in ended if r["action"] == "constraint.ended"] == [
        ("constraint.ended", "user:ada")
    ]


def test_webhook_actions_and_the_outcome_go_out_signed_and_logged(gov: Clients) -> None:
    ada = gov("ada")
    with receiving() as receiver:
        subscription = {
            "name": "aps",
            "url": receiver.url,
            "secret": SECRET,
            "events": ["press.*", "approval.decided", "run.resolved"],
        }
        ok(ada.post("/api/v1/webhooks/subscriptions", json=subscription))
        run = start_run(gov)
        reject(gov)
        events = receiver.events(2)
        assert {e["event"] for e in events} == {"press.rejected", "approval.decided"}
        by_name = {e["event"]: e for e in events}
        rejected = by_name["press.rejected"]["data"]
        assert (rejected["run"]["id"], rejected["decision"], rejected["step_id"]) == (
            run["id"],
            "reject",
            "release",
        )
        decided = by_name["approval.decided"]["data"]["approval"]
        assert (decided["status"], decided["source"]) == ("rejected", "signature")
        ok(ada.post(f"/api/v1/runs/{run['id']}/resolve", json={"resolution_code": "scrapped"}))
        [outcome] = receiver.events(1)
    assert outcome["event"] == "run.resolved"
    assert outcome["data"]["outcome"]["resolution_code"] == "scrapped"
    assert outcome["data"]["run"]["status"] == "resolved"
    chain = ok(ada.get(f"/api/v1/runs/{run['id']}"))
    [webhook] = [a for a in chain["actions"] if a["kind"] == "webhook"]
    assert webhook["status"] == "done"
    assert webhook["payload"]["event_id"] == by_name["press.rejected"]["id"]
    log = ok(ada.get("/api/v1/webhooks/deliveries", params={"event": "press.rejected"}))["items"]
    assert [(d["event_id"], d["status"]) for d in log] == [
        (webhook["payload"]["event_id"], "delivered")
    ]


def test_a_feed_hold_and_a_governed_hold_share_the_agents_hold_list(gov: Clients) -> None:
    quinn, ada = gov("quinn"), gov("ada")
    feed_hold = {"lot": "LOT-7", "reason": "porosity", "site": "plant1", "line": "L1"}
    ok(quinn.post("/api/v1/holds", json={"hold": [feed_hold]}))
    [first] = hold_lists(gov.agent, 10)
    assert first["payload"] == {"lots": ["LOT-7"]}

    run = start_run(gov, seq=11)
    reject(gov)  # the playbook holds LOT-42 (the live pack.lot) on the line
    [governed] = [c for c in hold_lists(gov.agent, 12) if c["command_id"] != first["command_id"]]
    assert governed["payload"] == {"lots": ["LOT-42", "LOT-7"]}
    chain = ok(ada.get(f"/api/v1/runs/{run['id']}"))
    [action] = [a for a in chain["actions"] if a["kind"] == "hold_lot"]
    assert (action["status"], action["agent_id"], action["command_id"]) == (
        "sent",
        AGENT,
        governed["command_id"],
    )
    held = ok(ada.get("/api/v1/holds", params={"lot": "LOT-42"}))
    assert [(h["placed_by"], h["line"], h["area"]) for h in held] == [("user:quinn", "L1", "press")]
    assert action["payload"]["hold_id"] == held[0]["id"]

    # The agent carries the lists out; its result closes the governed action.
    results = [
        {
            "event_id": f"{AGENT}:{seq}",
            "agent_id": AGENT,
            "seq": seq,
            "type": "command.result",
            "source_time": T0.isoformat(),
            "agent_time": T0.isoformat(),
            "context": {
                "command_id": c["command_id"],
                "kind": "holds",
                "ok": True,
                "detail": "done",
            },
        }
        for seq, c in ((13, first), (14, governed))
    ]
    ingest(gov.agent, *results)
    chain = ok(ada.get(f"/api/v1/runs/{run['id']}"))
    assert [a["status"] for a in chain["actions"] if a["kind"] == "hold_lot"] == ["done"]

    # A later feed hold and a feed release keep the governed lot on the list.
    more = {"lot": "LOT-9", "reason": "label mix-up", "site": "plant1", "line": "L1"}
    ok(quinn.post("/api/v1/holds", json={"hold": [more]}))
    [latest] = hold_lists(gov.agent, 15)
    assert latest["payload"] == {"lots": ["LOT-42", "LOT-7", "LOT-9"]}
    ok(quinn.post("/api/v1/holds", json={"release": [{"lot": "LOT-7", "reason": "reworked"}]}))
    assert [c["payload"] for c in hold_lists(gov.agent, 16)][-1] == {"lots": ["LOT-42", "LOT-9"]}
    # Releasing the governed hold goes through the same feed.
    ok(quinn.post("/api/v1/holds", json={"release": [{"lot": "LOT-42", "reason": "re-tested"}]}))
    assert [c["payload"] for c in hold_lists(gov.agent, 17)][-1] == {"lots": ["LOT-9"]}
    assert "hold.released" in actions(ada, object_type="hold")


def test_the_migration_moves_governance_constraints_and_holds_to_the_feeds(
    tmp_path: Path,
) -> None:
    with duckdb.connect(str(tmp_path / "old.duckdb")) as conn:
        migrate(conn, MIGRATIONS[:7])
        conn.execute(
            "INSERT INTO gov_runs (id, playbook_id, policy_version, trigger, site, area, line,"
            " context, status, occurred_at, created_at) VALUES"
            " (1, 'p', 'v', 'alarm', 'plant1', 'press', 'L1', '{}', 'open', $t, $t)",
            {"t": T0},
        )
        conn.execute(
            "INSERT INTO gov_constraints (run_id, site, area, line, equipment, status,"
            " capacity_impact, reason, created_at, ended_at) VALUES"
            " (1, 'plant1', 'press', 'L1', 'press1.temp', 'reduced', 50, 'hot', $t, NULL),"
            " (1, 'plant1', 'press', 'L1', 'press1.temp', 'unavailable', 100, 'down', $t, $t)",
            {"t": T0},
        )
        conn.execute(
            "INSERT INTO gov_holds (lot, site, line, run_id, reason, placed_at) VALUES"
            " ('LOT-1', 'plant1', 'L1', 1, 'first', $t),"
            " ('LOT-1', 'plant1', 'L1', 1, 'again', $t + INTERVAL 1 MINUTE),"
            " ('LOT-2', 'plant1', 'L1', 1, 'other', $t)",
            {"t": T0},
        )
        assert migrate(conn) == len(MIGRATIONS)
        constraints = conn.execute(
            "SELECT status, equipment, run_id, ended_at IS NULL, posted_by FROM floor_constraints"
            " ORDER BY id"
        ).fetchall()
        assert constraints == [
            ("reduced", "L1", 1, True, "system"),
            ("unavailable", "L1", 1, False, "system"),
        ]
        changes = conn.execute("SELECT change FROM constraint_changes ORDER BY id").fetchall()
        assert sorted(c[0] for c in changes) == ["ended", "opened", "opened"]
        holds = conn.execute(
            "SELECT lot, area, reason, released_at FROM holds ORDER BY lot"
        ).fetchall()
        assert holds == [("LOT-1", "press", "first", None), ("LOT-2", "press", "other", None)]
        tables = {r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert not {"gov_constraints", "gov_holds"} & tables
        cursor = conn.execute("SELECT position FROM gov_cursor WHERE name = 'feed_events'")
        assert cursor.fetchone() == (0,)
