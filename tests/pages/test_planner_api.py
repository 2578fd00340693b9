"""Plan against actual for the planner board: which plan entries make a line's current shift,
the figures over several runs, and the board and its live stream from a real hub."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from hub.config import HubConfig
from hub.pages.chart import PlannedRun, plan_vs_actual, render_svg
from hub.pages.planner import current_shift
from hub.plans.schemas import PlanEntry
from protocols.wire import utc_now
from tests.pages.conftest import PAINT, PRESS, Ingest, Users

T = datetime.fromisoformat("2026-03-02T00:00:00+00:00")
HOUR = timedelta(hours=1)


def planned(start: float, end: float, shift: str | None, rate: float = 100) -> PlanEntry:
    return PlanEntry(
        id=int(start * 10),
        upload_id=1,
        site="plant1",
        area="press",
        line="L1",
        product="bracket-A",
        lot=None,
        planned_quantity=None,
        planned_rate_per_hour=rate,
        start=T + start * HOUR,
        end=T + end * HOUR,
        shift=shift,
        replaced_by=None,
    )


def test_a_shift_is_the_entry_in_force_and_its_neighbours_of_the_same_name() -> None:
    night, early_a, early_b, late = (
        planned(-2, 6, "night"), planned(6, 10, "early"), planned(10.5, 14, "early"),
        planned(14, 22, "late"),
    )  # fmt: skip
    tomorrow = planned(30, 34, "early")
    entries = [night, early_a, early_b, late, tomorrow]
    assert current_shift(entries, T + 7 * HOUR) == [early_a, early_b]
    assert current_shift(entries, T + 10.25 * HOUR) == [early_a, early_b]  # the break
    assert current_shift(entries, T + 15 * HOUR) == [late]
    assert current_shift(entries, T + 24 * HOUR) == []  # between late and tomorrow's early
    unnamed = [planned(6, 8, None), planned(8, 10, None)]
    assert current_shift(unnamed, T + 7 * HOUR) == unnamed[:1]


def test_figures_over_runs_and_a_planned_stop() -> None:
    # 600/h for 2 h, a planned stop for 1 h, 300/h for 1 h; seen at 07:00, making 450/h.
    plan = [
        PlannedRun(T + 6 * HOUR, T + 8 * HOUR, 600),
        PlannedRun(T + 8 * HOUR, T + 9 * HOUR, 0),
        PlannedRun(T + 9 * HOUR, T + 10 * HOUR, 300),
    ]
    minute = timedelta(minutes=1)
    readings = [(T + 6 * HOUR + i * minute, 100 + 7.5 * i) for i in range(61)]
    figures = plan_vs_actual(readings, plan=plan, now=T + 7 * HOUR)
    assert (figures.start, figures.end) == (T + 6 * HOUR, T + 10 * HOUR)
    assert figures.planned_total == 1500
    assert figures.planned_by_now == 600
    assert figures.planned_rate_per_hour == 600
    assert figures.produced == 450
    assert figures.rate_per_hour == 450
    # 450/h over the 2 h of planned running left (the stop adds nothing).
    assert figures.projected_total == 450 + 900
    assert figures.shortfall == 150
    svg = render_svg(figures, "Line L1 <&>", "chart-1")
    assert "Line L1 &lt;&amp;&gt;" in svg and "shortfall at shift end: 150" in svg
    plan_only = render_svg(figures, "Line L1", "chart-1", with_actual=False)
    assert "no counter" in plan_only and "produced" not in plan_only


def minutes_ago(now: datetime, minutes: float) -> str:
    return (now - timedelta(minutes=minutes)).isoformat()


def seed_counter(ingest: Ingest, now: datetime) -> None:
    """pack.count on line-1 for the last 20 minutes, 4 a minute, reset to 0 halfway: 80 made,
    240/h over the last quarter hour."""
    for i in range(21):
        value = 5000 + 4 * i if i < 10 else 4 * (i - 9)
        ingest.send("value", at=now - timedelta(minutes=20 - i), tag="pack.count", value=value,
                    context=PRESS)  # fmt: skip


def press_shift(now: datetime) -> list[dict[str, Any]]:
    """Night until 2 h ago; early: 600/h until 30 min ago, a 10 min break, 300/h for 1 h more."""
    where = {k: PRESS[k] for k in ("site", "area", "line")}
    return [
        {**where, "product": "bracket-Z", "planned_rate_per_hour": 50, "shift": "night",
         "start": minutes_ago(now, 600), "end": minutes_ago(now, 120)},
        {**where, "product": "bracket-A", "lot": "LOT-42", "planned_rate_per_hour": 600,
         "shift": "early", "start": minutes_ago(now, 120), "end": minutes_ago(now, 30)},
        {**where, "product": "bracket-B", "planned_rate_per_hour": 300, "shift": "early",
         "start": minutes_ago(now, 20), "end": minutes_ago(now, -60)},
    ]  # fmt: skip


def upload(client: httpx.Client, entries: list[dict[str, Any]]) -> None:
    reply = client.post("/api/v1/plans", json={"entries": entries, "source": "aps"})
    assert reply.status_code == 200, reply.text


def test_the_board_sets_the_current_shift_against_the_counter(
    gov_users: Users, gov_ingest: Ingest
) -> None:
    now = utc_now()
    seed_counter(gov_ingest, now)
    paint = {**{k: PAINT[k] for k in ("site", "area", "line")}, "product": "door",
             "planned_quantity": 200, "start": minutes_ago(now, 60),
             "end": minutes_ago(now, -60)}  # fmt: skip
    upload(gov_users("pia"), [*press_shift(now), paint])

    reply = gov_users("pia").get("/api/v1/pages/planner")
    assert reply.status_code == 200, reply.text
    board = reply.json()
    press, painting = board["lines"]
    assert (press["line"], press["shift"], press["counter_tag"]) == (
        "line-1",
        "early",
        "pack.count",
    )
    assert [e["product"] for e in press["entries"]] == ["bracket-A", "bracket-B"]
    assert press["start"] == minutes_ago(now, 120).replace("+00:00", "Z")
    assert press["planned_total"] == 900 + 400  # 1.5 h at 600, 1 h 20 min at 300
    assert round(press["planned_by_now"]) == 1000
    assert press["planned_rate_per_hour"] == 300
    assert press["produced"] == 80  # the reset is bridged
    assert round(press["rate_per_hour"]) == 240
    assert round(press["projected_total"]) == 80 + 240
    assert round(press["shortfall"]) == 1300 - 320
    assert press["svg"].startswith("<svg") and "shortfall at shift end: 980" in press["svg"]
    # No counter configured for line-2: the plan alone.
    assert (painting["line"], painting["counter_tag"], painting["produced"]) == (
        "line-2",
        None,
        None,
    )
    assert painting["planned_total"] == 200

    # Scope: otto sees his paint shop only; a panel device has no business here.
    (only,) = gov_users("otto").get("/api/v1/pages/planner").json()["lines"]
    assert only["line"] == "line-2"
    assert gov_users("panel-press").get("/api/v1/pages/planner").status_code == 403


def sse_events(reply: httpx.Response, deadline: float) -> Iterator[tuple[str, Any]]:
    """(event, data) of an SSE response until ``deadline`` (time.monotonic)."""
    name, data = "message", []
    for line in reply.iter_lines():
        assert time.monotonic() < deadline, "no event in time"
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())
        elif not line and data:
            yield name, json.loads("\n".join(data))
            name, data = "message", []


def test_the_board_stream_sends_the_board_again_after_a_plan_upload(gov_users: Users) -> None:
    planner = gov_users("pia")
    deadline = time.monotonic() + 10
    with planner.stream("GET", "/api/v1/pages/planner/stream") as reply:
        assert reply.status_code == 200
        events = sse_events(reply, deadline)
        assert next(events)[0] == "ready"
        name, first = next(events)
        assert (name, first["lines"]) == ("board", [])
        upload(planner, press_shift(utc_now()))
        name, second = next(events)
        assert name == "board" and second["plans_version"] > first["plans_version"]
        assert [line["line"] for line in second["lines"]] == ["line-1"]


def test_a_line_has_one_counter_in_the_hub_config() -> None:
    line = {"site": "plant1", "line": "L1", "counter_tag": "pack.count"}
    with pytest.raises(ValidationError, match=r"lines\[1\]: plant1/L1 is listed twice"):
        HubConfig.model_validate({"planner": {"lines": [line, {**line, "counter_tag": "other"}]}})
    config = HubConfig.model_validate({"planner": {"lines": [line]}})
    assert config.planner.lines[0].counter_tag == "pack.count"
