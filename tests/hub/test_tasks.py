"""Tasks: only the assignee (or a delegate, or an escalation target) acts; required steps
cannot be skipped or bypassed by resolving the run; every refusal is audited."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.hub.conftest import AGENT, FakeClock
from tests.hub.governance_helpers import (
    PRESS_PLAYBOOK,
    Clients,
    actions,
    audit,
    ingest,
    items,
    ok,
    raised,
    start_hub,
)


@pytest.fixture
def gov(
    tmp_path: Path,
    seeded_db: tuple[Path, dict[str, str]],
    clock: FakeClock,
    tls_context: ssl.SSLContext,
) -> Iterator[Clients]:
    hub = start_hub(tmp_path, seeded_db[0], clock, tls_context, {"press.yaml": PRESS_PLAYBOOK})
    clients = Clients(hub, seeded_db[1][AGENT])
    ingest(clients.agent, raised(1))
    yield clients
    clients.close()
    hub.stop()


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
