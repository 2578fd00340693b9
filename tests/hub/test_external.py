"""What outside systems post, through a real hub: recommendations (stored, audited, a feed event
for playbooks, idempotent by external id), inventory and supply (newest figure wins, read with
its age, and in the snapshot function the governance half calls)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hub.external import service
from hub.storage import Database
from tests.hub.conftest import T0
from tests.hub.feeds_helpers import AsUser, audit_actions, hub, ok

__all__ = ["hub"]


def recommendation(**fields: object) -> dict[str, object]:
    return {
        "source_system": "aps",
        "external_id": "rec-1",
        "proposed_action": "reschedule",
        "category": "schedule",
        "scope": {"site": "plant1", "area": "press", "line": "L1"},
        "rationale": "press L1 is down; move order 4711 to L3",
        "parameters": {"order": "4711", "to_line": "L3"},
        "expires_at": (T0 + timedelta(hours=2)).isoformat(),
        **fields,
    }


def test_recommendation_is_stored_once_audited_and_announced(
    as_user: AsUser, hub: object, db_path: Path
) -> None:
    planner = as_user("pia")
    first = ok(planner.post("/api/v1/recommendations", json=recommendation()))
    assert first["duplicate"] is False and first["submitted_by"] == "user:pia"
    again = ok(planner.post("/api/v1/recommendations", json=recommendation(rationale="retry")))
    assert again["duplicate"] is True and again["id"] == first["id"]
    assert [r["id"] for r in ok(planner.get("/api/v1/recommendations"))] == [first["id"]]
    assert audit_actions(as_user("ada"), object_type="recommendation") == [
        "recommendation.received"
    ]
    assert ok(as_user("otto").get("/api/v1/recommendations")) == []  # paint only

    expired = planner.post(
        "/api/v1/recommendations",
        json=recommendation(external_id="rec-2", expires_at=T0.isoformat()),
    )
    assert expired.status_code == 422 and "expires_at" in expired.json()["detail"]
    assert as_user("olga").post("/api/v1/recommendations", json=recommendation()).status_code == 403
    outside = as_user("sam").post(
        "/api/v1/recommendations",
        json=recommendation(external_id="rec-3", scope={"site": "plant2"}),
    )
    assert outside.status_code == 403


async def test_feed_events_for_playbooks(tmp_path: Path) -> None:
    from hub.auth.scope import Scope
    from hub.external.schemas import RecommendationRequest

    db = Database(tmp_path / "hub.duckdb")
    await db.open()
    try:
        body = RecommendationRequest.model_validate_json(__import__("json").dumps(recommendation()))
        rec = await service.submit_recommendation(db, body, Scope(), "user:pia", T0)
        [event] = await db.read(lambda cur: service.feed_events_after(cur, 0))
        assert (event.type, event.object_id, event.line) == (
            "recommendation.received",
            str(rec.id),
            "L1",
        )
        assert event.payload["trigger"] == {
            "rule": "recommendation.reschedule",
            "tag": None,
            "category": "schedule",
            "severity": None,
            "site": "plant1",
            "area": "press",
            "line": "L1",
        }
        assert await db.read(lambda cur: service.feed_events_after(cur, event.id)) == []
    finally:
        await db.close()


def test_inventory_and_supply_keep_the_newest_and_show_their_age(as_user: AsUser) -> None:
    procurement = as_user("paco")
    old, new = (T0 - timedelta(minutes=30)).isoformat(), (T0 - timedelta(minutes=5)).isoformat()
    silo = {"site": "plant1", "area": "press", "item": "resin", "location": "silo-2", "unit": "kg"}
    body = {
        "source_system": "erp",
        "positions": [{**silo, "quantity": 1200, "as_of": new}],
    }
    assert ok(procurement.post("/api/v1/inventory", json=body)) == {"stored": 1, "stale": 0}
    late = {"source_system": "erp", "positions": [{**silo, "quantity": 9999, "as_of": old}]}
    assert ok(procurement.post("/api/v1/inventory", json=late)) == {"stored": 0, "stale": 1}
    [position] = ok(procurement.get("/api/v1/inventory", params={"item": "resin"}))
    assert (position["quantity"], position["age_seconds"]) == (1200, 300)

    commitment = {
        "reference": "PO-1/10",
        "supplier": "ResinCo",
        "site": "plant1",
        "item": "resin",
        "quantity": 5000,
        "unit": "kg",
        "due_at": (T0 + timedelta(hours=6)).isoformat(),
        "status": "at_risk",
        "as_of": old,
    }
    supply = {"source_system": "erp", "commitments": [commitment]}
    assert ok(procurement.post("/api/v1/supply", json=supply)) == {"stored": 1, "stale": 0}
    [seen] = ok(procurement.get("/api/v1/supply"))
    assert (seen["status"], seen["age_seconds"]) == ("at_risk", 1800)
    # A row with no area is outside an area-scoped user's view (hub/auth/scope.py).
    assert ok(as_user("maria").get("/api/v1/supply")) == []
    bad = procurement.post(
        "/api/v1/supply", json={"source_system": "erp", "commitments": [{**commitment, "x": 1}]}
    )
    assert bad.status_code == 422


async def test_snapshot_for_a_decision(tmp_path: Path) -> None:
    from hub.auth.scope import Scope
    from hub.external.schemas import InventoryRequest

    db = Database(tmp_path / "hub.duckdb")
    await db.open()
    try:
        body = InventoryRequest.model_validate(
            {
                "source_system": "wms",
                "positions": [
                    {"site": "plant1", "area": "press", "item": "resin", "quantity": 10.0,
                     "unit": "kg", "as_of": T0},
                    {"site": "plant1", "item": "boxes", "quantity": 50.0, "unit": "pcs",
                     "as_of": T0},
                    {"site": "plant1", "area": "paint", "item": "paint", "quantity": 3.0,
                     "unit": "l", "as_of": T0},
                ],
            }
        )  # fmt: skip
        await service.store_inventory(db, body, Scope(), T0)
        later = T0 + timedelta(minutes=2)
        snap = await db.read(lambda cur: service.snapshot(cur, later, site="plant1", area="press"))
        assert sorted((i["item"], i["age_seconds"]) for i in snap["inventory"]) == [
            ("boxes", 120.0),
            ("resin", 120.0),
        ]
        assert snap["supply"] == []
        # A playbook's snapshot.items globs; no glob, no items.
        resin = await db.read(
            lambda cur: service.snapshot(cur, later, site="plant1", area="press", patterns=["r*"])
        )
        assert [i["item"] for i in resin["inventory"]] == ["resin"]
        none = await db.read(lambda cur: service.snapshot(cur, later, site="plant1", patterns=[]))
        assert none == {"inventory": [], "supply": []}
        every_area = await db.read(lambda cur: service.snapshot(cur, later, site="plant1"))
        assert len(every_area["inventory"]) == 3
    finally:
        await db.close()
