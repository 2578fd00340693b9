"""The constraint board through a real hub: derived from alarms (machine down -> unavailable,
rate behind plan -> reduced) and holds, posted by playbooks through ``post_constraint``, live
on SSE in the caller's scope, and resumable with Last-Event-ID."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from hub.auth.scope import Scope
from hub.config import HubConfig
from hub.constraints import repository, service
from hub.constraints.schemas import ConstraintFilters
from hub.storage import Connection, Database
from tests.hub.conftest import T0, event
from tests.hub.feeds_helpers import L1, L2, AsUser, hub, ingest, ok

__all__ = ["hub"]


def alarm(seq: int, rule: str, where: dict[str, str], category: str = "schedule") -> dict[str, Any]:
    return event(
        seq,
        type="alarm.raised",
        tag="press.count",
        value=0,
        rule=rule,
        severity="high",
        category=category,
        context={**where, "occurrence": f"occ-{rule}"},
    )


def cleared(seq: int, rule: str, where: dict[str, str]) -> dict[str, Any]:
    return event(
        seq,
        type="alarm.cleared",
        tag="press.count",
        value=5,
        rule=rule,
        context={**where, "occurrence": f"occ-{rule}"},
    )


def test_alarms_put_and_take_constraints(agent: httpx.Client, as_user: AsUser) -> None:
    planner = as_user("pia")
    ingest(
        agent,
        alarm(1, "press-output.stopped", L1),
        alarm(2, "pack-output.behind", L2),
        alarm(3, "press1.temp.high", L1, category="equipment"),  # not a constraint
    )
    board = ok(planner.get("/api/v1/constraints"))
    found = {c["status"]: c for c in board["constraints"]}
    assert set(found) == {"unavailable", "reduced"}
    down = found["unavailable"]
    assert (down["equipment"], down["capacity_impact_percent"], down["source"]) == (
        "L1",
        100,
        "alarm",
    )
    assert "press-output.stopped" in down["reason"]
    assert [(e["equipment"], e["status"]) for e in board["equipment"]] == [
        ("L1", "unavailable"),
        ("L2", "reduced"),
    ]
    assert [
        c["status"] for c in ok(as_user("maria").get("/api/v1/constraints"))["constraints"]
    ] == ["unavailable"]  # maria sees the press area only

    ingest(agent, cleared(4, "press-output.stopped", L1))
    after = ok(planner.get("/api/v1/constraints"))["constraints"]
    assert [c["status"] for c in after] == ["reduced"]
    ended = ok(planner.get(f"/api/v1/constraints/{down['id']}"))
    assert ended["ended_at"] is not None and ended["end_reason"] == "its source ended"
    refused = planner.post(f"/api/v1/constraints/{after[0]['id']}/end", json={"reason": "x"})
    assert refused.status_code == 409


@contextmanager
def sse(
    client: httpx.Client, **headers: str
) -> Iterator[Iterator[tuple[str, str, dict[str, Any]]]]:
    with client.stream("GET", "/api/v1/constraints/stream", headers=headers, timeout=5) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")

        def events() -> Iterator[tuple[str, str, dict[str, Any]]]:
            name, ident, data = "message", "", ""
            for line in reply.iter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("id: "):
                    ident = line.removeprefix("id: ")
                elif line.startswith("data: "):
                    data = line.removeprefix("data: ")
                elif line == "" and data:
                    yield name, ident, json.loads(data)
                    name, ident, data = "message", "", ""

        yield events()


def test_stream_is_live_scoped_and_resumable(agent: httpx.Client, as_user: AsUser) -> None:
    planner = as_user("pia")
    with sse(planner) as events, sse(as_user("otto")) as paint_only:
        assert next(events)[0] == "ready" and next(paint_only)[0] == "ready"
        ingest(agent, alarm(1, "press-output.stopped", L1))  # the pump derives it within 50 ms
        name, ident, data = next(events)
        assert name == "constraint" and data["change"] == "opened"
        assert data["constraint"]["status"] == "unavailable"
        first = int(ident)
        ingest(agent, alarm(2, "paint-output.behind", L2))
        # otto (paint) never sees the press constraint: his first change is the paint one.
        _, _, seen = next(paint_only)
        assert seen["constraint"]["line"] == "L2"
        _, second, _ = next(events)
    # Reconnect after the first change: the second comes from the database, then live ones.
    with sse(planner, **{"Last-Event-ID": str(first)}) as events:
        assert next(events)[0] == "ready"
        name, ident, data = next(events)
        assert ident == second and data["constraint"]["line"] == "L2"
        ingest(agent, cleared(3, "press-output.stopped", L1))
        name, ident, data = next(events)
        assert data["change"] == "ended" and int(ident) > int(second)


async def test_post_constraint_supersedes_and_available_ends(tmp_path: Path) -> None:
    """The function the governance half calls inside its own write transaction."""
    db = Database(tmp_path / "hub.duckdb")
    await db.open()
    try:
        now = T0

        def post(status: str, **extra: Any) -> Any:
            def work(conn: Connection) -> Any:
                return service.post_constraint(
                    conn,
                    status=status,  # type: ignore[arg-type]
                    reason=f"playbook says {status}",
                    actor="system",
                    now=now,
                    site="plant1",
                    area="press",
                    line="L1",
                    run_id=7,
                    **extra,
                )

            return db.write(work)

        first = await post(
            "unavailable", capacity_impact_percent=100.0, expected_end=now + timedelta(hours=1)
        )
        assert first.ended_at is None and first.equipment == "L1" and first.source == "playbook"
        second = await post("reduced", capacity_impact_percent=40.0)
        available = await post("available")
        assert available.ended_at is not None
        board = await service.board(db, ConstraintFilters(), Scope(), now)
        assert board.constraints == []
        changes = await db.read(lambda cur: repository.changes_after(cur, 0, 100))
        assert [(c.constraint.id, c.change) for c in changes] == [
            (first.id, "opened"),
            (first.id, "ended"),
            (second.id, "opened"),
            (second.id, "ended"),
            (available.id, "opened"),
            (available.id, "ended"),
        ]
        # Derivation with no alarms and no holds changes nothing.
        rules = HubConfig().feeds.constraint_rules
        assert await db.write(lambda conn: service.derive(conn, rules, now)) == 0
    finally:
        await db.close()
