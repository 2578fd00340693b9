"""Conditional steps: the ``when:`` language from tables (what parses, what it means, what is
refused with which message), then through a real hub: a reschedule approval that opens only
when the expected end is past the end of the shift in the plan, with the facts audited."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.ingest.writer import IngestWriter
from hub.playbooks import conditions
from tests.hub.conftest import AGENT, T0, FakeClock, event
from tests.hub.governance_helpers import (
    PRESS,
    Clients,
    audit,
    governed,
    ingest,
    items,
    ok,
    raised,
    value,
)

H = timedelta(hours=1)
FACTS: dict[str, conditions.Value] = {
    "severity": "high",
    "line": "L1",
    "value": 91.5,
    "now": T0,
    "expected_end": T0 + H,
    "shift_end": T0 + 2 * H,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("expected_end > shift_end", False),
        ("expected_end < shift_end", True),
        ("expected_end > shift_end - 90min", True),
        ("expected_end >= now + 1h", True),
        ("expected_end > now + 1h", False),
        ("severity >= high", True),
        ("severity > 'high'", False),
        ('severity != "low"', True),
        ("line == 'L1'", True),
        ("line != 'L1'", False),
        ("value > 90", True),
        ("value <= 90.0", False),
        ("planned_end > now", None),  # no plan in force: unknown
        ("area == 'press'", None),
    ],
)
def test_conditions_evaluate(text: str, expected: bool | None) -> None:
    assert conditions.parse(text).evaluate(FACTS) is expected


def test_all_conditions_must_hold_and_unknown_is_said() -> None:
    assert conditions.verdict(["value > 90", "severity == high"], FACTS) == "true"
    assert conditions.verdict(["value > 90", "planned_end > now"], FACTS) == "unknown"
    assert conditions.verdict(["value > 100", "planned_end > now"], FACTS) == "false"
    assert conditions.named_facts(["now < shift_end", "shift_end > expected_end"]) == [
        "now",
        "shift_end",
        "expected_end",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("import os", "not a condition"),
        ("__import__('os') == 1", "not a condition"),
        ("shift > 1", "unknown fact 'shift'"),
        ("line < 'L2'", "line is a text: compare it with == or != only"),
        ("value > 'x'", "value is a number: it cannot be compared with a text"),
        ("expected_end > 5", "expected_end is a time: it cannot be compared with the number 5"),
        ("expected_end > value", "expected_end is a time but value is a number"),
        ("severity >= hgh", "'hgh' is not a severity"),
        ("severity == 'urgent'", "'urgent' is not a severity"),
        ("value > recurrences + 5min", "only times take a duration offset"),
        ("expected_end > shift_end - soon", "not a duration: 'soon'"),
    ],
)
def test_bad_conditions_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        conditions.parse(text)


PLAYBOOK = """
id: press-down
name: Press down
match: {rules: ["*.high"]}
steps:
  - id: down
    kind: constraint
    status: unavailable
    reason: press down
    expected_end: 1h
  - id: reschedule
    kind: approval
    when: expected_end > shift_end
    title: Reschedule the rest of the shift
    meaning: I approve moving the remaining orders
    approvers: [{role: planner}]
  - id: tell-quality
    kind: task
    when: [severity == critical]
    when_unknown: skip
    title: Check the parts made while it stopped
    assignee: {role: quality}
"""


SILO_PLAYBOOK = """
id: silo-low
name: Silo running out before the planned end
match: {rules: ["*.lo"]}
steps:
  - id: expedite
    kind: approval
    when: runout_at < planned_end
    title: Expedite the next delivery
    meaning: I approve an expedited delivery
    approvers: [{role: planner}]
"""


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
        {"down.yaml": PLAYBOOK, "silo.yaml": SILO_PLAYBOOK},
        value(1, "press1.temp", 20.0),
    ) as clients:
        yield clients


def plan(shift_ends_at: datetime) -> dict[str, Any]:
    """Two entries of shift A back to back on L1 (one shift), then shift B."""
    entry = {"site": "plant1", "area": "press", "line": "L1", "product": "P-1"}
    middle = T0 + timedelta(minutes=10)
    return {
        "entries": [
            {**entry, "planned_rate_per_hour": 100, "start": (T0 - H).isoformat(),
             "end": middle.isoformat(), "shift": "A"},
            {**entry, "planned_rate_per_hour": 100, "start": middle.isoformat(),
             "end": shift_ends_at.isoformat(), "shift": "A"},
            {**entry, "planned_rate_per_hour": 100, "start": shift_ends_at.isoformat(),
             "end": (shift_ends_at + 8 * H).isoformat(), "shift": "B"},
        ]
    }  # fmt: skip


def run_steps(gov: Clients, seq: int, tag: str) -> tuple[dict[str, Any], dict[str, str]]:
    ingest(gov.agent, raised(seq, tag=tag))
    [run] = [r for r in items(gov("ada"), "/api/v1/runs") if r["rule"] == f"{tag}.high"]
    chain = ok(gov("ada").get(f"/api/v1/runs/{run['id']}"))
    return chain, {s["step_id"]: s["status"] for s in chain["steps"]}


def conditions_audited(gov: Clients, run_id: int) -> list[dict[str, Any]]:
    return [
        r["data"]
        for r in audit(gov("ada"), object_type="run", object_id=str(run_id))
        if r["action"] == "step.condition"
    ]


def test_the_reschedule_opens_only_when_the_press_is_back_after_the_shift(gov: Clients) -> None:
    planner = gov("pia")
    # No plan in force: expected_end > shift_end cannot be decided; the approval opens anyway
    # (when_unknown: run), and the quality task, whose severity is known, is not applicable.
    chain, steps = run_steps(gov, 2, "press1.temp")
    assert steps == {"down": "done", "reschedule": "active"}
    [unknown] = conditions_audited(gov, chain["id"])
    assert (unknown["step_id"], unknown["verdict"], unknown["opened"]) == (
        "reschedule",
        "unknown",
        True,
    )
    assert unknown["facts"]["shift_end"] is None

    # The shift (two entries of shift A) ends after the expected end: no reschedule needed.
    ok(planner.post("/api/v1/plans", json=plan(T0 + 2 * H)))
    chain, steps = run_steps(gov, 3, "press2.temp")
    assert steps == {
        "down": "done",
        "reschedule": "not_applicable",
        "tell-quality": "not_applicable",
    }
    assert chain["status"] == "steps_done" and chain["approvals"] == []
    false, skipped = conditions_audited(gov, chain["id"])
    assert (false["verdict"], false["opened"]) == ("false", False)
    assert false["facts"] == {
        "expected_end": (T0 + H).isoformat(),
        "shift_end": (T0 + 2 * H).isoformat(),
    }
    assert (skipped["step_id"], skipped["verdict"]) == ("tell-quality", "false")
    # Nothing required is open: the run resolves, and no step counts as bypassed.
    ok(gov("ada").post(f"/api/v1/runs/{chain['id']}/resolve", json={"resolution_code": "ok"}))
    kpis = ok(gov("ada").get("/api/v1/kpis", params={"from": T0.isoformat(),
                                                      "to": (T0 + H).isoformat()}))  # fmt: skip
    assert [g["bypassed_steps"] for g in kpis["groups"]] == [0], kpis

    # A new plan whose shift ends in 30 minutes: the press is back only after it.
    ok(planner.post("/api/v1/plans", json=plan(T0 + timedelta(minutes=30))))
    chain, steps = run_steps(gov, 4, "press3.temp")
    assert steps["reschedule"] == "active"
    [approval] = chain["approvals"]
    assert approval["step_id"] == "reschedule"


def silo_run(gov: Clients, seq: int, tag: str, levels: list[float]) -> dict[str, str]:
    """One level a minute up to now (T0), then the low alarm: the steps of its run."""
    start = T0 - timedelta(minutes=len(levels) - 1)
    ingest(gov.agent, *[
        event(seq + i, AGENT, tag=tag, value=level, context=dict(PRESS),
              source_time=(start + timedelta(minutes=i)).isoformat(),
              agent_time=(start + timedelta(minutes=i)).isoformat())
        for i, level in enumerate(levels)
    ])  # fmt: skip
    alarm = event(seq + len(levels), AGENT, type="alarm.raised", tag=tag, value=levels[-1],
                  rule=f"{tag}.lo", severity="medium", category="supply", context=dict(PRESS),
                  source_time=T0.isoformat(), agent_time=T0.isoformat())  # fmt: skip
    ingest(gov.agent, alarm)
    [run] = [r for r in items(gov("ada"), "/api/v1/runs") if r["rule"] == f"{tag}.lo"]
    chain = ok(gov("ada").get(f"/api/v1/runs/{run['id']}"))
    facts = [c["facts"] for c in conditions_audited(gov, chain["id"])]
    return {"expedite": chain["steps"][0]["status"], **facts[0]}


def test_the_expedite_opens_only_when_the_silo_runs_out_before_the_plan_ends(
    gov: Clients,
) -> None:
    entry = {**PRESS, "product": "P-1", "planned_rate_per_hour": 100,
             "start": (T0 - H).isoformat(), "end": (T0 + 2 * H).isoformat()}  # fmt: skip
    ok(gov("pia").post("/api/v1/plans", json={"entries": [entry]}))
    # 1 per minute from 40: the line through the values reaches 0 at T0 + 30 min.
    fast = silo_run(gov, 100, "silo1.level", [40 - i for i in range(11)])
    assert fast["expedite"] == "active", fast
    assert fast["runout_at"] == (T0 + timedelta(minutes=30)).isoformat()
    # 0.01 per minute: empty in about two days, long after the plan ends.
    slow = silo_run(gov, 200, "silo2.level", [30 - 0.01 * i for i in range(11)])
    assert slow["expedite"] == "not_applicable"
    assert datetime.fromisoformat(slow["runout_at"]) > T0 + 40 * H
    # Filling up, or a single value: no runout to project; the approval opens anyway.
    rising = silo_run(gov, 300, "silo3.level", [20 + i for i in range(5)])
    assert (rising["expedite"], rising["runout_at"]) == ("active", None)
    single = silo_run(gov, 400, "silo4.level", [5])
    assert (single["expedite"], single["runout_at"]) == ("active", None)


def test_a_run_reads_the_values_journaled_before_its_alarm(
    tmp_path: Path,
    seeded_db: tuple[Path, dict[str, str]],
    clock: FakeClock,
    tls_context: ssl.SSLContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An alarm commits without waiting for the ingest journal to load; the run it starts
    must still see the values the agent sent before it. The loader is idle here, so only the
    pump's own wait for the journal loads them."""

    async def idle_loader(self: IngestWriter) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()

    monkeypatch.setattr(IngestWriter, "_run_loader", idle_loader)
    with governed(tmp_path, seeded_db, clock, tls_context, {"silo.yaml": SILO_PLAYBOOK}) as gov:
        entry = {**PRESS, "product": "P-1", "planned_rate_per_hour": 100,
                 "start": (T0 - H).isoformat(), "end": (T0 + 2 * H).isoformat()}  # fmt: skip
        ok(gov("pia").post("/api/v1/plans", json={"entries": [entry]}))
        fast = silo_run(gov, 100, "silo1.level", [40 - i for i in range(11)])
        assert fast["runout_at"] == (T0 + timedelta(minutes=30)).isoformat()
        assert fast["expedite"] == "active"
