"""SLA timers on an injected clock: reminders before the due time, escalation at it, the
default decision after the last timeout (a hold that reaches the line's agents), and a restart
while an escalation is due fires it exactly once."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.hub.conftest import AGENT, FakeClock
from tests.hub.governance_helpers import (
    MINUTE,
    PRESS_PLAYBOOK,
    Clients,
    actions,
    governed,
    ingest,
    items,
    ok,
    raised,
    value,
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
        {"press.yaml": PRESS_PLAYBOOK},
        value(1, "pack.lot", "LOT-42"),
        raised(2),
    ) as clients:
        yield clients


def inspect_task(gov: Clients) -> dict[str, object]:
    [task] = [t for t in items(gov("ada"), "/api/v1/tasks", assigned="scope")
              if t["step_id"] == "inspect"]  # fmt: skip
    return task


def test_reminder_then_escalation_to_the_supervisor(gov: Clients, clock: FakeClock) -> None:
    sam, ada = gov("sam"), gov("ada")
    assert items(sam, "/api/v1/tasks") == []
    clock.advance(7 * MINUTE)
    assert inspect_task(gov)["reminded_at"] is None
    clock.advance(MINUTE)  # 2 minutes before the due time
    assert inspect_task(gov)["reminded_at"] is not None
    assert actions(ada, object_type="task").count("task.reminded") == 1
    clock.advance(2 * MINUTE)  # due: the supervisor may act as well
    [escalated] = items(sam, "/api/v1/tasks")
    assert (escalated["step_id"], escalated["via"], escalated["escalation_level"]) == (
        "inspect",
        "escalation",
        1,
    )
    assert escalated["assignees"] == ["role:maintenance", "role:supervisor"]
    ok(sam.post(f"/api/v1/tasks/{escalated['id']}/complete", json={"note": "done by sam"}))
    clock.advance(timedelta(hours=2))  # completed: its timers are cancelled
    task_actions = actions(ada, object_type="task")
    assert task_actions.count("task.escalated") == 1
    assert "task.overdue" not in task_actions


def test_default_decision_holds_the_lot_at_the_agents_of_the_line(
    gov: Clients, clock: FakeClock
) -> None:
    maria, quinn = gov("maria"), gov("quinn")
    for client in (quinn, maria):
        [task] = items(client, "/api/v1/tasks")
        ok(client.post(f"/api/v1/tasks/{task['id']}/complete", json={}))
    [approval] = items(gov("ada"), "/api/v1/approvals", assigned="scope")
    clock.advance(30 * MINUTE)  # escalation to the supervisor
    [pending] = items(gov("sam"), "/api/v1/approvals")
    assert (pending["id"], pending["escalation_level"], pending["via"]) == (
        approval["id"],
        1,
        "escalation",
    )
    clock.advance(30 * MINUTE)  # the last deadline: the playbook's default applies
    decided = ok(gov("ada").get(f"/api/v1/approvals/{approval['id']}"))
    assert (decided["status"], decided["decision_source"]) == ("rejected", "default")
    reply = ingest(gov.agent, value(3, "press1.temp", 70.0))
    [holds] = [c for c in reply["commands"] if c["kind"] == "holds"]
    assert holds["payload"] == {"lots": ["LOT-42"]}
    run = ok(gov("ada").get(f"/api/v1/runs/{approval['run_id']}"))
    [hold] = [a for a in run["actions"] if a["kind"] == "hold_lot"]
    assert (hold["agent_id"], hold["status"], hold["payload"]["lot"]) == (AGENT, "sent", "LOT-42")
    assert "approval.default_applied" in actions(gov("ada"), object_type="approval")


def test_a_restart_while_an_escalation_is_due_fires_it_once(gov: Clients, clock: FakeClock) -> None:
    assert inspect_task(gov)["escalation_level"] == 0  # the run and its timers exist
    hub = gov.hub
    gov.close()
    hub.stop()
    clock.advance(25 * MINUTE)  # the reminder and the escalation both came due while down
    hub.start()  # the lifespan catches up before it serves
    again = Clients(hub, "unused")
    try:
        task_actions = actions(again("ada"), object_type="task")
        # Reminders for deadlines already passed are dropped; each deadline acts once.
        assert task_actions.count("task.reminded") == 0
        assert task_actions.count("task.escalated") == 1
        assert task_actions.count("task.overdue") == 1
        hub.restart()
        again.close()
        again = Clients(hub, "unused")
        task_actions = actions(again("ada"), object_type="task")
        assert task_actions.count("task.escalated") == 1
        assert task_actions.count("task.overdue") == 1
        # The next level's deadline counts from the one that passed, not from the restart.
        [task] = [t for t in items(again("sam"), "/api/v1/tasks") if t["step_id"] == "inspect"]
        assert task["escalation_level"] == 1
        assert task["overdue"] is True  # 10 min + 10 min for the supervisor: both passed
    finally:
        again.close()
