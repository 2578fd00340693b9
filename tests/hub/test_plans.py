"""Plans through a real hub: JSON and CSV uploads, refusals that store nothing, replacement of
overlapping windows, scope, and the plan each agent gets on its next ingest reply."""

from __future__ import annotations

import httpx

from tests.hub.conftest import AGENT, OTHER_AGENT, T0, RunningHub
from tests.hub.feeds_helpers import (
    L1,
    L2,
    AsUser,
    audit_actions,
    commands,
    hub,
    ingest,
    located,
    ok,
)

__all__ = ["hub"]


def entry(line: str = "L1", start: int = 6, end: int = 14, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "site": "plant1",
        "line": line,
        "product": "bracket-A",
        "lot": "LOT-42",
        "planned_quantity": 4000,
        "planned_rate_per_hour": 500,
        "start": T0.replace(hour=start).isoformat(),
        "end": T0.replace(hour=end).isoformat(),
        "shift": "early",
    }
    body.update(fields)
    return body


def upload(client: httpx.Client, *entries: dict[str, object]) -> httpx.Response:
    return client.post("/api/v1/plans", json={"entries": list(entries), "source": "aps"})


CSV_HEADER = "site,line,product,lot,planned_quantity,planned_rate_per_hour,start,end,shift\n"


def csv_upload(client: httpx.Client, text: str) -> httpx.Response:
    return client.post(
        "/api/v1/plans",
        content=text.encode(),
        headers={"Content-Type": "text/csv; charset=utf-8"},
        params={"source": "erp"},
    )


def test_json_plan_reaches_the_agents_of_its_line_only(
    agent: httpx.Client, as_user: AsUser
) -> None:
    ingest(agent, located(1, L1))
    planner = as_user("pia")
    reply = ok(upload(planner, entry("L1"), entry("L2", product="panel-B", lot="LOT-7")))
    assert reply["entries"] == 2 and reply["replaced"] == 0
    assert reply["lines"] == ["plant1/L1", "plant1/L2"]
    assert reply["commands"] >= 1

    [plan] = commands(agent, "plan")
    assert plan["payload"] == {
        "entries": [
            {
                "line": "L1",
                "product": "bracket-A",
                "start": T0.replace(hour=6).isoformat(),
                "end": T0.replace(hour=14).isoformat(),
                "planned_rate_per_hour": 500.0,
                "lot": "LOT-42",
            }
        ]
    }
    # The area came from where the line's agent reports.
    listed = ok(planner.get("/api/v1/plans", params={"line": "L1"}))["items"]
    assert [(e["line"], e["area"], e["shift"]) for e in listed] == [("L1", "press", "early")]
    assert "plan.uploaded" in audit_actions(as_user("ada"), object_type="plan_upload")


def test_agent_result_closes_the_command_and_an_unchanged_plan_is_not_resent(
    agent: httpx.Client, as_user: AsUser
) -> None:
    ingest(agent, located(1, L1))
    ok(upload(as_user("pia"), entry()))
    [plan] = commands(agent, "plan")
    result = located(
        2,
        L1,
        type="command.result",
        tag=None,
        value=None,
        context={**L1, "command_id": plan["command_id"], "ok": True, "kind": "plan"},
    )
    assert [c for c in ingest(agent, result)["commands"] if c["kind"] == "plan"] == []
    ok(as_user("ada").get("/api/v1/constraints"))  # runs a feeds pass
    assert commands(agent, "plan") == []


def test_csv_upload(agent: httpx.Client, as_user: AsUser) -> None:
    ingest(agent, located(1, L1))
    text = (
        "\ufeff"
        + CSV_HEADER
        + "plant1,L1,bracket-A,LOT-1,800,,2026-03-01T10:00:00Z,2026-03-01T12:00:00Z,early\n"
        + "plant1,L1,bracket-A,LOT-2,,450,2026-03-01T13:00:00+01:00,2026-03-01T14:00:00Z,\n"
        + "\n"
    )
    reply = ok(csv_upload(as_user("pia"), text))
    assert reply["entries"] == 2
    [plan] = commands(agent, "plan")
    rates = [(e["lot"], e["planned_rate_per_hour"]) for e in plan["payload"]["entries"]]
    assert rates == [("LOT-1", 400.0), ("LOT-2", 450.0)]  # 800 over 2 h


def test_a_bad_csv_row_refuses_the_whole_upload_with_its_line_number(as_user: AsUser) -> None:
    planner = as_user("pia")
    text = (
        CSV_HEADER
        + "plant1,L1,bracket-A,LOT-1,800,,2026-03-01T06:00:00Z,2026-03-01T08:00:00Z,early\n"
        + "plant1,L1,bracket-A,LOT-2,,fast,2026-03-01T08:00:00Z,2026-03-01T10:00:00Z,\n"
        + "plant1,L1,bracket-A,LOT-3,,100,2026-03-01T12:00:00Z,2026-03-01T11:00:00Z,\n"
        + "plant1,L1,bracket-A,LOT-4,,100,2026-03-01T12:00:00,2026-03-01T13:00:00Z,\n"
    )
    reply = csv_upload(planner, text)
    assert reply.status_code == 422
    detail = reply.json()["detail"]
    assert "nothing stored" in detail
    assert "line 3: planned_rate_per_hour: 'fast' is not a number" in detail
    assert "line 4" in detail and "end must be after start" in detail
    assert "line 5: start" in detail and "zone offset" in detail
    assert "line 2" not in detail
    assert ok(planner.get("/api/v1/plans"))["items"] == []

    bad_header = csv_upload(planner, "site,line,product,start,end,colour\n")
    assert bad_header.status_code == 422
    assert "line 1 (header): unknown column(s) ['colour']" in bad_header.json()["detail"]
    short_row = csv_upload(planner, CSV_HEADER + "plant1,L1\n")
    assert "line 2: 2 cells, the header has 9" in short_row.json()["detail"]


def test_json_errors_name_the_entry_and_overlaps_are_refused(as_user: AsUser) -> None:
    planner = as_user("pia")
    bad = upload(planner, entry(), entry(start=15, end=16, planned_rate_per_hour="7"))
    assert bad.status_code == 422
    assert "entries.1.planned_rate_per_hour" in bad.json()["detail"]
    overlapping = upload(planner, entry(start=6, end=10), entry(start=9, end=12))
    assert overlapping.status_code == 422
    assert "entries[1] overlaps entries[0] on plant1/L1" in overlapping.json()["detail"]
    missing = upload(planner, entry(planned_quantity=None, planned_rate_per_hour=None))
    assert "give planned_rate_per_hour or planned_quantity" in missing.json()["detail"]
    assert (
        planner.post(
            "/api/v1/plans", content=b"x", headers={"Content-Type": "text/plain"}
        ).status_code
        == 415
    )
    assert ok(planner.get("/api/v1/plans"))["items"] == []


def test_an_upload_replaces_what_overlaps_its_window_on_its_lines(
    agent: httpx.Client, as_user: AsUser
) -> None:
    ingest(agent, located(1, L1))
    planner = as_user("pia")
    ok(upload(planner, entry(start=6, end=10, lot="A"), entry(start=10, end=14, lot="B")))
    ok(upload(planner, entry("L2", start=6, end=14, lot="P")))
    second = ok(upload(planner, entry(start=12, end=18, lot="C")))
    assert second["replaced"] == 1  # B (10-14) overlaps 12-18; A and L2 stay
    in_force = ok(planner.get("/api/v1/plans"))["items"]
    assert sorted(e["lot"] for e in in_force) == ["A", "C", "P"]
    every = ok(planner.get("/api/v1/plans", params={"include_replaced": True}))["items"]
    assert [e["replaced_by"] for e in every if e["lot"] == "B"] == [second["upload_id"]]
    # Each upload queued a plan; the agent applies them in order and ends with the last.
    plans = commands(agent, "plan")
    assert [[e["lot"] for e in p["payload"]["entries"]] for p in plans] == [["A", "B"], ["A", "C"]]


def test_scope_and_roles(as_user: AsUser) -> None:
    assert upload(as_user("maria"), entry()).status_code == 403  # maintenance may not plan
    outside = upload(as_user("sam"), entry(), entry(site="plant2"))  # sam: plant1 only
    assert outside.status_code == 403
    assert "entries[1]: plant2/" in outside.json()["detail"]
    assert ok(as_user("ada").get("/api/v1/plans"))["items"] == []


def test_an_agent_seen_after_the_upload_gets_the_plan(
    agent: httpx.Client, as_user: AsUser, hub: RunningHub, agent_tokens: dict[str, str]
) -> None:
    ok(upload(as_user("pia"), entry("L2")))
    with hub.client(agent_tokens[OTHER_AGENT]) as other:
        ingest(other, located(1, L2, OTHER_AGENT), agent_id=OTHER_AGENT)
        ok(as_user("ada").get("/api/v1/constraints"))  # runs a feeds pass now
        [plan] = commands(other, "plan", OTHER_AGENT)
        assert [e["line"] for e in plan["payload"]["entries"]] == ["L2"]
    assert commands(agent, "plan", AGENT) == []  # line1 never reported a line
