"""Tasks: only the assignee (or a delegate, or an escalation target) acts; required steps
cannot be skipped or bypassed by resolving the run; every refusal is audited."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.governance.service import RULE_PANEL
from tests.hub.conftest import AGENT, FakeClock
from tests.hub.governance_helpers import (
    PANEL,
    PRESS_PLAYBOOK,
    Clients,
    actions,
    audit,
    governed,
    ingest,
    items,
    ok,
    raised,
    seed_with_panel,
    start_hub,
)


@pytest.fixture
def gov(
    tmp_path: Path,
    seeded_db: tuple[Path, dict[str, str]],
    clock: FakeClock,
    tls_context: ssl.SSLContext,
) -> Iterator[Clients]:
    with governed(
        tmp_path, seeded_db, clock, tls_context, {"press.yaml": PRESS_PLAYBOOK}, raised(1)
    ) as clients:
        yield clients


def task(client: Any, step_id: str) -> dict[str, Any]:
    [found] = [
        t for t in items(client, "/api/v1/tasks", assigned="scope") if t["step_id"] == step_id
    ]
    return found


def test_the_inbox_shows_the_callers_tasks_with_due_time(gov: Clients, clock: FakeClock) -> None:
    [mine] = items(gov("maria"), "/api/v1/tasks")
    assert (mine["step_id"], mine["assignees"], mine["can_act"], mine["via"]) == (
        "inspect",
        ["role:maintenance"],
        True,
        "assignee",
    )
    assert mine["due_at"] == (clock.now + timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    assert (mine["escalation_level"], mine["escalation_chain"]) == (
        0,
        ["role:maintenance", "role:supervisor"],
    )
    assert items(gov("otto"), "/api/v1/tasks") == []  # maintenance, but of the paint area
    assert [t["step_id"] for t in items(gov("quinn"), "/api/v1/tasks")] == ["check-parts"]


def test_only_the_assignee_completes_and_refusals_are_audited(gov: Clients) -> None:
    inspect = task(gov("ada"), "inspect")
    url = f"/api/v1/tasks/{inspect['id']}/complete"
    refused = gov("pete").post(url, json={"note": "not mine"})
    assert refused.status_code == 403
    assert "rule assignee" in refused.json()["detail"]
    assert gov("otto").post(url, json={}).status_code == 404  # outside otto's scope
    done = ok(gov("maria").post(url, json={"note": "bearing worn"}))
    assert (done["status"], done["completed_by"], done["note"]) == ("done", "maria", "bearing worn")
    assert gov("maria").post(url, json={}).status_code == 409
    records = audit(gov("ada"), object_type="task", object_id=str(inspect["id"]))
    assert [(r["action"], r["actor"]) for r in records] == [
        ("task.opened", "system"),
        ("task.complete_refused", "user:pete"),
        ("task.completed", "user:maria"),
        ("task.complete_refused", "user:maria"),
    ]
    assert "rule assignee" in records[1]["reason"]


def test_required_steps_cannot_be_skipped_or_bypassed(gov: Clients) -> None:
    ada, maria, quinn = gov("ada"), gov("maria"), gov("quinn")
    inspect, check = task(ada, "inspect"), task(ada, "check-parts")
    refused = maria.post(f"/api/v1/tasks/{inspect['id']}/skip", json={"reason": "busy"})
    assert refused.status_code == 403
    assert "rule required-step" in refused.json()["detail"]
    skipped = ok(quinn.post(f"/api/v1/tasks/{check['id']}/skip", json={"reason": "no parts"}))
    assert skipped["status"] == "skipped"

    [run] = items(ada, "/api/v1/runs")
    resolve = gov("sam").post(
        f"/api/v1/runs/{run['id']}/resolve", json={"resolution_code": "fixed"}
    )
    assert resolve.status_code == 403
    assert "inspect" in resolve.json()["detail"] and "release" in resolve.json()["detail"]
    assert "task.bypass_refused" in actions(ada, object_type="task")
    assert "run.bypass_refused" in actions(ada, object_type="run")


def test_a_delegate_acts_for_the_role_within_the_window(gov: Clients, clock: FakeClock) -> None:
    maria, pete = gov("maria"), gov("pete")
    inspect = task(gov("ada"), "inspect")
    window = {"ends_at": (clock.now + timedelta(hours=1)).isoformat()}
    not_his = {"role": "maintenance", "to_user": "maria", **window}
    assert pete.post("/api/v1/delegations", json=not_his).status_code == 403  # pete: production
    created = ok(
        maria.post(
            "/api/v1/delegations",
            json={
                "role": "maintenance",
                "to_user": "pete",
                "ends_at": (clock.now + timedelta(hours=1)).isoformat(),
                "reason": "on leave",
            },
        )
    )
    assert created["active"] is True
    [delegated] = items(pete, "/api/v1/tasks")
    assert (delegated["id"], delegated["via"]) == (inspect["id"], "delegation")
    clock.advance(timedelta(hours=2))  # the window has closed
    assert items(pete, "/api/v1/tasks") == []
    clock.advance(timedelta(hours=-2))
    ok(pete.post(f"/api/v1/tasks/{inspect['id']}/complete", json={}))
    assert "delegation.created" in actions(gov("ada"), object_type="delegation")
    revoked = ok(maria.post(f"/api/v1/delegations/{created['id']}/revoke", json={}))
    assert (revoked["active"], revoked["revoked_by"]) == (False, "maria")


@pytest.fixture
def with_panel(
    tmp_path: Path,
    seeded_db: tuple[Path, dict[str, str]],
    clock: FakeClock,
    tls_context: ssl.SSLContext,
) -> Iterator[Clients]:
    seed = seed_with_panel(seeded_db[0], tmp_path)
    hub = start_hub(tmp_path, seed, clock, tls_context, {"press.yaml": PRESS_PLAYBOOK})
    clients = Clients(hub, seeded_db[1][AGENT])
    yield clients
    clients.close()
    hub.stop()


def test_a_panel_account_neither_gives_nor_takes_a_delegation(
    with_panel: Clients, clock: FakeClock
) -> None:
    window = {"ends_at": (clock.now + timedelta(hours=1)).isoformat()}
    to_panel = with_panel("maria").post(
        "/api/v1/delegations", json={"role": "maintenance", "to_user": PANEL, **window}
    )
    assert to_panel.status_code == 422
    assert to_panel.json()["detail"] == f"to_user: {PANEL!r} is a panel device: {RULE_PANEL}"
    from_panel = with_panel(PANEL).post(
        "/api/v1/delegations", json={"role": "panel", "to_user": "maria", **window}
    )
    assert from_panel.status_code == 403
    assert "panel" in from_panel.json()["detail"]
    ada = with_panel("ada")
    assert ok(ada.get("/api/v1/delegations")) == []
    assert "delegation.created" not in actions(ada, object_type="delegation")


DOWN_PLAYBOOK = """
id: press-down
name: Press down during planned production
match: {rules: ["press1.temp.high"]}
steps:
  - {id: down, kind: constraint, equipment: press, status: unavailable,
     capacity_impact_percent: 100, reason: press stopped, expected_end: 1h}
  - id: confirm-cause
    kind: task
    title: Confirm the cause and when the press is back
    assignee: {role: maintenance}
    reports: [expected_end]
  - {id: tell-production, kind: task, title: Move the crew, assignee: {role: production}}
  - id: reschedule
    kind: approval
    when: expected_end > shift_end
    title: Reschedule the rest of the shift
    meaning: I approve moving the remaining orders
    approvers: [{role: planner}]
"""


@pytest.fixture
def down(
    tmp_path: Path,
    seeded_db: tuple[Path, dict[str, str]],
    clock: FakeClock,
    tls_context: ssl.SSLContext,
) -> Iterator[Clients]:
    hub = start_hub(tmp_path, seeded_db[0], clock, tls_context, {"down.yaml": DOWN_PLAYBOOK})
    clients = Clients(hub, seeded_db[1][AGENT])
    yield clients
    clients.close()
    hub.stop()


def test_maintenance_reports_the_expected_end_which_moves_the_constraint_and_the_condition(
    down: Clients, clock: FakeClock
) -> None:
    hour = timedelta(hours=1)
    shift = {"site": "plant1", "area": "press", "line": "L1", "product": "P-1", "shift": "A",
             "planned_rate_per_hour": 100, "start": (clock.now - hour).isoformat(),
             "end": (clock.now + 2 * hour).isoformat()}  # fmt: skip
    ok(down("pia").post("/api/v1/plans", json={"entries": [shift]}))
    ingest(down.agent, raised(1))  # the press is posted unavailable until now + 1h
    maria, ada = down("maria"), down("ada")
    confirm = task(ada, "confirm-cause")
    url = f"/api/v1/tasks/{confirm['id']}/complete"
    clock.advance(timedelta(minutes=5))

    for bad, reason in [
        ("2026-03-01T11:00:00", "timezone"),  # no offset: whose 11:00?
        ((clock.now - hour).isoformat(), "expected_end: must be in the future"),
        ((clock.now + 400 * 24 * hour).isoformat(), "expected_end: must be at most a year ahead"),
    ]:
        refused = maria.post(url, json={"expected_end": bad})
        assert refused.status_code == 422 and reason in refused.text, refused.text
    assert task(ada, "confirm-cause")["status"] == "open"  # nothing changed

    # The repair takes longer: the press is back after the end of the shift.
    back = clock.now + 3 * hour
    done = ok(maria.post(url, json={"note": "bearing", "expected_end": back.isoformat()}))
    assert done["status"] == "done"
    board = ok(ada.get("/api/v1/constraints"))
    [moved] = [c for c in board["constraints"] if c["run_id"] == confirm["run_id"]]
    assert (moved["status"], moved["equipment"], moved["expected_end"], moved["posted_by"]) == (
        "unavailable", "press", back.isoformat().replace("+00:00", "Z"), "user:maria",
    )  # fmt: skip
    [completed] = [r for r in audit(ada, object_type="task") if r["action"] == "task.completed"]
    assert completed["data"]["expected_end"] == back.isoformat()
    assert completed["data"]["constraints"] == [moved["id"]]
    # Planners saw the first post end (superseded) and the new one open.
    first, second = ok(ada.get(f"/api/v1/runs/{confirm['run_id']}"))["constraints"]
    assert second["id"] == moved["id"] and first["end_reason"].startswith("superseded")
    assert first["expected_end"] == (clock.now - timedelta(minutes=5) + hour).isoformat().replace(
        "+00:00", "Z"
    )

    # A step that does not report an expected end refuses one, and changes nothing.
    tell = task(ada, "tell-production")
    pete_url = f"/api/v1/tasks/{tell['id']}/complete"
    refused = down("pete").post(pete_url, json={"expected_end": back.isoformat()})
    assert refused.status_code == 422
    assert "step 'tell-production' does not report one" in refused.json()["detail"]
    ok(down("pete").post(pete_url, json={}))

    # The reschedule decided on the reported end (with the posted 1h it would not apply).
    chain = ok(ada.get(f"/api/v1/runs/{confirm['run_id']}"))
    assert {s["step_id"]: s["status"] for s in chain["steps"]}["reschedule"] == "active"
    [condition] = [
        r["data"] for r in audit(ada, object_type="run") if r["action"] == "step.condition"
    ]
    assert condition["facts"]["expected_end"] == back.isoformat()
    assert condition["verdict"] == "true"
