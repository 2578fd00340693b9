"""KPIs through a real hub: ISA-18.2 alarm load (rate, flood, bad actors, chattering),
detection latency, recurrence, per site and area in the caller's scope; governance figures
read from the governance tables (zero here: no playbooks ran)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from hub.auth.scope import Scope
from hub.kpis import service
from hub.storage import Database
from tests.hub.conftest import T0, FakeClock, event
from tests.hub.feeds_helpers import L1, AsUser, hub, ingest, ok

__all__ = ["hub"]


def raised(seq: int, rule: str, occurrence: str) -> dict[str, Any]:
    return event(
        seq,
        type="alarm.raised",
        tag=f"{rule}.tag",
        value=1,
        rule=rule,
        severity="low",
        category="equipment",
        context={**L1, "occurrence": occurrence},
    )


def test_alarm_load_and_latency(agent: httpx.Client, as_user: AsUser, clock: FakeClock) -> None:
    clock.advance(timedelta(minutes=10))  # events are stamped T0 + seq seconds at the source
    ingest(
        agent,
        *[raised(seq, "chatty", f"c{seq}") for seq in range(1, 13)],
        raised(13, "other", "o1"),
    )
    window = {
        "from": (T0 - timedelta(hours=1)).isoformat(),
        "to": (T0 + timedelta(hours=1)).isoformat(),
    }
    report = ok(as_user("ada").get("/api/v1/kpis", params=window))
    assert report["unavailable"] == {}
    [press] = report["groups"]
    assert (press["site"], press["area"]) == ("plant1", "press")
    load = press["alarm_load"]
    assert load["alarms"] == 13
    assert load["per_operator_per_10min_avg"] == round(13 / 12, 3)
    assert load["per_operator_per_10min_max"] == 13
    assert load["flood_time_share"] == round(1 / 12, 4)
    assert load["top10_bad_actor_share"] == 1.0
    assert (load["chattering_alarms"], load["chattering"]) == (1, ["line1/chatty"])
    assert press["recurrence"] == [{"rule": "chatty", "tag": "chatty.tag", "occurrences": 12}]
    latency = press["detection_latency_seconds"]
    assert latency["count"] == 13
    assert latency["p50"] == 600 - 7 and latency["p90"] == 600 - 2.2
    # Governance figures exist (tables present) and are zero without playbook runs.
    assert press["approval_latency_seconds"] == {"count": 0, "p50": None, "p90": None}
    assert (press["escalations"], press["bypassed_steps"]) == (0, 0)

    assert ok(as_user("otto").get("/api/v1/kpis", params=window))["groups"] == []
    default_window = ok(as_user("ada").get("/api/v1/kpis"))  # the last 24 h
    assert default_window["groups"][0]["alarm_load"]["alarms"] == 13
    backwards = as_user("ada").get(
        "/api/v1/kpis", params={"from": window["to"], "to": window["from"]}
    )
    assert backwards.status_code == 422
    naive = as_user("ada").get("/api/v1/kpis", params={"from": "2026-03-01T00:00:00"})
    assert naive.status_code == 422


async def test_governance_figures_are_null_with_a_reason_without_their_tables(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "hub.duckdb")
    await db.open()
    try:
        await db.write(lambda conn: conn.execute("DROP TABLE gov_signatures"))
        report = await service.report(db, T0 - timedelta(hours=1), T0, Scope())
        assert report.groups == []
        assert set(report.unavailable) >= {"approval_latency_seconds", "escalations"}
        assert "gov_signatures" in report.unavailable["data_age_at_decision_seconds"]
    finally:
        await db.close()


def test_data_age_counts_floor_values_only() -> None:
    snapshot = {
        "values": [{"tag": "a", "age_seconds": 2.0}, {"tag": "b", "age_seconds": 9}],
        "inventory": [{"item": "resin", "age_seconds": 7200.0}],
        "supply": [{"item": "resin", "age_seconds": 86400.0}],
    }
    assert list(service._floor_ages(snapshot)) == [2.0, 9.0]
    # Stored before inventory and supply joined the snapshot: a bare list of values.
    assert list(service._floor_ages([{"age_seconds": 3}, {"age_seconds": True}])) == [3.0]
    assert list(service._floor_ages({"inventory": []})) == []
