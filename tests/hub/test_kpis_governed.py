"""KPIs from real playbook runs through a real hub: three alarms become runs (two in the press
area, one in paint), driven through a fan-out, tasks, a refused bypass, an escalated approval,
e-signatures and resolution at times set on the injected clock, so every governance figure has
an exact expected value. The hub's pump only runs before inbox reads and decisions (see
tests/hub/governance_helpers.py), so a run starts at the first read after its alarm arrives.

Timeline (seconds after T0; an event's seq is also its source second, see ``event``):

press, line L1, agent line1: raise a1 at 8 (received 10); run A starts at 30; skipping the
required inspection is refused; a1 clears and a2 raises at 38 (received 40: a recurrence of
run A); inspection done at 60 opens the approval; signed at 180; resolved at 300.
press, line L3, agent line2, the same rule and tag: raise b1 at 395 (received 400); run B
starts at 420; both tasks done by 430 open the approval; resolving at 500 is refused (approval
open); the approval escalates to the supervisor at its due time (1030), who signs at 1090;
resolved at 1200.
paint, line P1, agent line2: raise c1 at 1297 (received 1300); run C starts at 1310, its
tasks are done at once; signed at 1340; resolved at 1400.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hub.conftest import AGENT, OTHER_AGENT, T0, FakeClock, event
from tests.hub.governance_helpers import Clients, decide, ingest, items, ok, start_hub

PLAYBOOK = """
id: running-hot
name: Running hot
match: {rules: ["*.temp.high"], categories: [equipment]}
steps:
  - id: fan-out
    kind: parallel
    steps:
      - {id: inspect, kind: task, title: Inspect the machine, assignee: {role: maintenance}}
      - id: check-parts
        kind: task
        title: Check the last parts
        assignee: {role: quality}
        required: false
      - {id: planners, kind: constraint, status: reduced, reason: running hot}
  - id: release
    kind: approval
    title: Keep running?
    meaning: I approve running on
    approvers: [{role: production}]
    due: 10min
    escalate_to: [{role: supervisor}]
"""

PRESS_L1 = {"site": "plant1", "area": "press", "line": "L1"}
PRESS_L3 = {"site": "plant1", "area": "press", "line": "L3"}
PAINT_P1 = {"site": "plant1", "area": "paint", "line": "P1"}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def reading(second: int, agent_id: str, where: dict[str, str], tag: str) -> dict[str, Any]:
    """A value with source time T0 + ``second`` (``event`` stamps seq seconds after T0)."""
    return event(second, agent_id, tag=tag, value=1.0, context=dict(where))


def alarm(
    second: int,
    agent_id: str,
    where: dict[str, str],
    tag: str,
    occurrence: str,
    kind: str = "alarm.raised",
) -> dict[str, Any]:
    return reading(second, agent_id, where, tag) | {
        "type": kind,
        "value": 95.0,
        "rule": f"{tag}.high",
        "severity": "high",
        "category": "equipment",
        "context": {**where, "occurrence": occurrence},
    }


class Plant:
    """The hub, its clients and the runs the scenario played (by letter)."""

    def __init__(self, gov: Clients, line2: httpx.Client, clock: FakeClock) -> None:
        self.gov = gov
        self.line2 = line2
        self.clock = clock
        self.runs: dict[str, int] = {}

    def at(self, seconds: float) -> None:
        self.clock.now = at(seconds)

    def task(self, username: str, step_id: str) -> dict[str, Any]:
        """The caller's one open task of ``step_id`` (reading the inbox runs the pump)."""
        [found] = [t for t in items(self.gov(username), "/api/v1/tasks") if t["step_id"] == step_id]
        return found

    def complete(self, username: str, step_id: str) -> int:
        task = self.task(username, step_id)
        ok(self.gov(username).post(f"/api/v1/tasks/{task['id']}/complete", json={}))
        run_id: int = task["run_id"]
        return run_id

    def approval(self, username: str) -> dict[str, Any]:
        [found] = items(self.gov(username), "/api/v1/approvals")
        return found

    def resolve(self, username: str, run_id: int) -> httpx.Response:
        body = {"resolution_code": "cooled-down", "note": "fan replaced"}
        return self.gov(username).post(f"/api/v1/runs/{run_id}/resolve", json=body)

    def kpis(self, username: str, **params: Any) -> dict[str, Any]:
        window = {"from": at(-3600).isoformat(), "to": at(3600).isoformat()}
        report: dict[str, Any] = ok(
            self.gov(username).get("/api/v1/kpis", params={**window, **params})
        )
        return report

    def group(self, name: str, **params: Any) -> dict[str, Any]:
        """The figures of area ``name`` as the unscoped admin sees them."""
        groups: list[dict[str, Any]] = self.kpis("ada", **params)["groups"]
        [found] = [g for g in groups if g["area"] == name]
        return found


def play(plant: Plant) -> None:
    gov, line1, line2 = plant.gov, plant.gov.agent, plant.line2

    # Run A: press L1. The inventory figure is two hours old: the KPI leaves it out.
    inventory = {"site": "plant1", "area": "press", "item": "resin", "quantity": 900}
    inventory |= {"unit": "kg", "as_of": at(-7200).isoformat()}
    ok(
        gov("paco").post(
            "/api/v1/inventory", json={"source_system": "wms", "positions": [inventory]}
        )
    )
    plant.at(10)
    ingest(
        line1,
        reading(4, AGENT, PRESS_L1, "press.pressure"),
        alarm(8, AGENT, PRESS_L1, "press.temp", "a1"),
    )
    plant.at(30)
    inspect = plant.task("maria", "inspect")  # the run starts now: every function notified
    plant.runs["A"] = inspect["run_id"]
    bypass = gov("maria").post(f"/api/v1/tasks/{inspect['id']}/skip", json={"reason": "busy"})
    assert bypass.status_code == 403, bypass.text
    check = plant.task("quinn", "check-parts")
    ok(gov("quinn").post(f"/api/v1/tasks/{check['id']}/skip", json={"reason": "not needed"}))
    plant.at(40)
    ingest(
        line1,
        alarm(35, AGENT, PRESS_L1, "press.temp", "a1", "alarm.cleared"),
        alarm(38, AGENT, PRESS_L1, "press.temp", "a2"),
    )
    plant.at(60)
    assert plant.complete("maria", "inspect") == plant.runs["A"]  # the approval opens
    plant.at(180)
    ok(decide(gov("pete"), plant.approval("pete")["id"]))
    plant.at(300)
    ok(plant.resolve("maria", plant.runs["A"]))

    # Run B: press L3, another line's agent with the same rule and tag.
    plant.at(400)
    ingest(
        line2,
        reading(390, OTHER_AGENT, PRESS_L3, "press.speed"),
        alarm(395, OTHER_AGENT, PRESS_L3, "press.temp", "b1"),
    )
    plant.at(420)
    plant.runs["B"] = plant.complete("maria", "inspect")
    plant.at(430)
    assert plant.complete("quinn", "check-parts") == plant.runs["B"]  # the approval opens
    plant.at(500)
    early = plant.resolve("maria", plant.runs["B"])
    assert early.status_code == 403, early.text
    plant.at(1030)  # the approval's due time: the supervisor may sign as well
    pending = plant.approval("sam")
    assert (pending["run_id"], pending["via"]) == (plant.runs["B"], "escalation")
    plant.at(1090)
    ok(decide(gov("sam"), pending["id"]))
    plant.at(1200)
    ok(plant.resolve("maria", plant.runs["B"]))

    # Run C: paint P1.
    plant.at(1300)
    ingest(
        line2,
        reading(1290, OTHER_AGENT, PAINT_P1, "paint.flow"),
        alarm(1297, OTHER_AGENT, PAINT_P1, "paint.temp", "c1"),
    )
    plant.at(1310)
    plant.runs["C"] = plant.complete("otto", "inspect")
    plant.complete("quinn", "check-parts")
    plant.at(1340)
    ok(decide(gov("pete"), plant.approval("pete")["id"]))
    plant.at(1400)
    ok(plant.resolve("otto", plant.runs["C"]))


@pytest.fixture(scope="module")
def plant(
    tmp_path_factory: pytest.TempPathFactory,
    seeded_db: tuple[Path, dict[str, str]],
    tls_context: ssl.SSLContext,
) -> Iterator[Plant]:
    """One hub for the module: the scenario is played once, the tests only read."""
    clock = FakeClock(T0)
    tmp = tmp_path_factory.mktemp("kpis-governed")
    hub = start_hub(tmp, seeded_db[0], clock, tls_context, {"hot.yaml": PLAYBOOK})
    gov = Clients(hub, seeded_db[1][AGENT])
    line2 = hub.client(seeded_db[1][OTHER_AGENT])
    try:
        played = Plant(gov, line2, clock)
        play(played)
        yield played
    finally:
        line2.close()
        gov.close()
        hub.stop()


def dist(count: int, p50: float | None, p90: float | None) -> dict[str, Any]:
    return {"count": count, "p50": p50, "p90": p90}


def test_the_runs_took_the_expected_path(plant: Plant) -> None:
    """The timeline the figures below are computed from, as the runs' chains show it."""
    outcomes = {
        name: ok(plant.gov("ada").get(f"/api/v1/runs/{run_id}"))["outcome"]
        for name, run_id in plant.runs.items()
    }
    assert {name: o["seconds_to_notify_all"] for name, o in outcomes.items()} == {
        "A": 22.0,
        "B": 25.0,
        "C": 13.0,
    }
    assert {name: o["seconds_to_resolve"] for name, o in outcomes.items()} == {
        "A": 292.0,
        "B": 805.0,
        "C": 103.0,
    }
    run_a = ok(plant.gov("ada").get(f"/api/v1/runs/{plant.runs['A']}"))
    assert run_a["recurrences"] == 1
    steps = {s["step_id"]: (s["required"], s["status"]) for s in run_a["steps"]}
    assert steps["inspect"] == (True, "done") and steps["check-parts"] == (False, "skipped")
    # The signature's snapshot holds the two-hour-old inventory figure (the KPI leaves it out).
    [signature] = run_a["approvals"][0]["signatures"]
    assert signature["oldest_age_seconds"] == 7200 + 180.0


def test_governance_figures_of_an_area_have_exact_values(plant: Plant) -> None:
    press = plant.group("press")
    assert (press["site"], press["area"]) == ("plant1", "press")
    # Decided 120 s (A) and 660 s (B, after escalating) after the approval opened.
    assert press["approval_latency_seconds"] == dist(2, 390.0, 606.0)
    assert press["escalations"] == 1
    # The fan-out opened when each run started: 22 s (A) and 25 s (B) after the raise.
    assert press["time_to_all_notified_seconds"] == dist(2, 23.5, 24.7)
    # The stalest floor value at each signature: 180 - 4 (A), 1090 - 390 (B); the
    # two-hour-old inventory figure in both snapshots is left out by design.
    assert press["data_age_at_decision_seconds"] == dist(2, 438.0, 647.6)
    # Raises a1, a2 (2 s each) and b1 (5 s) from source time to the hub.
    assert press["detection_latency_seconds"] == dist(3, 2.0, 4.4)
    # Two bypass attempts (a required task skipped, a run resolved with its approval open)
    # were refused; no required step ended skipped. A skipped optional task is no bypass.
    assert (press["bypassed_steps"], press["bypass_attempts_refused"]) == (0, 2)
    assert press["time_to_resolve_seconds"] == dist(2, 548.5, 753.7)
    # The cause recurred three times in the area, on two lines; run A saw a repeat raise.
    assert press["recurrence"] == [
        {"rule": "press.temp.high", "tag": "press.temp", "occurrences": 3}
    ]
    assert press["runs_with_recurrences"] == 1
    assert press["alarm_load"]["alarms"] == 3


def test_a_second_area_keeps_its_own_figures(plant: Plant) -> None:
    paint = plant.group("paint")
    assert paint["approval_latency_seconds"] == dist(1, 30.0, 30.0)
    assert paint["escalations"] == 0
    assert paint["time_to_all_notified_seconds"] == dist(1, 13.0, 13.0)
    assert paint["data_age_at_decision_seconds"] == dist(1, 50.0, 50.0)
    assert paint["detection_latency_seconds"] == dist(1, 3.0, 3.0)
    assert (paint["bypassed_steps"], paint["bypass_attempts_refused"]) == (0, 0)
    assert paint["time_to_resolve_seconds"] == dist(1, 103.0, 103.0)
    assert (paint["recurrence"], paint["runs_with_recurrences"]) == ([], 0)
    assert paint["alarm_load"]["alarms"] == 1
    assert plant.kpis("ada", area="paint")["groups"] == [paint]


def test_each_user_sees_only_the_areas_in_scope(plant: Plant) -> None:
    everything = plant.kpis("ada")
    assert [(g["site"], g["area"]) for g in everything["groups"]] == [
        ("plant1", "paint"),
        ("plant1", "press"),
    ]
    assert everything["unavailable"] == {}
    assert plant.kpis("maria")["groups"] == [plant.group("press")]
    assert plant.kpis("otto")["groups"] == [plant.group("paint")]
    # Asking for an area outside one's scope shows nothing rather than an error.
    assert plant.kpis("otto", area="press")["groups"] == []


def test_only_what_happened_inside_the_window_counts(plant: Plant) -> None:
    # [1000, 1250): B's escalation, signature and resolution; nothing of C (raised at 1297).
    window = {"from": at(1000).isoformat(), "to": at(1250).isoformat()}
    [press] = plant.kpis("ada", **window)["groups"]
    assert press["area"] == "press"
    assert press["approval_latency_seconds"] == dist(1, 660.0, 660.0)
    assert press["escalations"] == 1
    assert press["time_to_all_notified_seconds"] == dist(0, None, None)
    assert press["data_age_at_decision_seconds"] == dist(1, 700.0, 700.0)
    assert press["detection_latency_seconds"] == dist(0, None, None)
    assert press["bypass_attempts_refused"] == 0
    assert press["time_to_resolve_seconds"] == dist(1, 805.0, 805.0)
