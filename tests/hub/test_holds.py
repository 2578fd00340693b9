"""Quality holds through a real hub: placed and released all or nothing, audited, shown as
lot_held constraints, and sent to the agents of the line on their next ingest reply."""

from __future__ import annotations

import httpx

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


def hold(lot: str, **fields: object) -> dict[str, object]:
    return {"lot": lot, "reason": "porosity found in samples", "site": "plant1", **fields}


def test_hold_and_release_reach_the_agent_and_the_board(
    agent: httpx.Client, as_user: AsUser
) -> None:
    ingest(agent, located(1, L1))
    quality = as_user("quinn")
    reply = ok(quality.post("/api/v1/holds", json={"hold": [hold("LOT-42", line="L1")]}))
    [placed] = reply["placed"]
    assert (placed["lot"], placed["area"], placed["placed_by"]) == ("LOT-42", "press", "user:quinn")
    assert reply["commands"] >= 1
    [holds] = commands(agent, "holds")
    assert holds["payload"] == {"lots": ["LOT-42"]}

    board = ok(quality.get("/api/v1/constraints"))
    [held] = board["constraints"]
    assert (held["status"], held["lot"], held["lot_held"], held["source"]) == (
        "lot_held",
        "LOT-42",
        True,
        "hold",
    )
    assert board["lots_held"] == ["LOT-42"]

    again = ok(quality.post("/api/v1/holds", json={"hold": [hold("LOT-42", line="L1")]}))
    assert again["placed"] == [] and [h["id"] for h in again["unchanged"]] == [placed["id"]]

    release = {"release": [{"lot": "LOT-42", "reason": "lab retest passed"}]}
    released = ok(quality.post("/api/v1/holds", json=release))["released"]
    assert [h["released_by"] for h in released] == ["user:quinn"]
    assert commands(agent, "holds")[-1]["payload"] == {"lots": []}
    assert ok(quality.get("/api/v1/constraints"))["constraints"] == []
    assert ok(quality.get("/api/v1/holds")) == []
    history = ok(quality.get("/api/v1/holds", params={"include_released": True}))
    assert [h["release_reason"] for h in history] == ["lab retest passed"]
    assert audit_actions(as_user("ada"), object_type="hold") == ["hold.placed", "hold.released"]


def test_a_site_wide_hold_reaches_every_line_of_the_site(
    agent: httpx.Client, as_user: AsUser
) -> None:
    ingest(agent, located(1, L2))
    ok(as_user("quinn").post("/api/v1/holds", json={"hold": [hold("LOT-9")]}))
    assert commands(agent, "holds")[0]["payload"] == {"lots": ["LOT-9"]}


def test_one_refused_item_changes_nothing(agent: httpx.Client, as_user: AsUser) -> None:
    ingest(agent, located(1, L1))
    quality = as_user("quinn")
    body = {
        "hold": [hold("LOT-1", line="L1")],
        "release": [{"lot": "LOT-never-held", "reason": "x"}],
    }
    refused = quality.post("/api/v1/holds", json=body)
    assert refused.status_code == 409
    assert "release[0]: lot 'LOT-never-held' has no open hold" in refused.json()["detail"]
    assert ok(quality.get("/api/v1/holds")) == []
    assert commands(agent, "holds") == []
    assert quality.post("/api/v1/holds", json={}).status_code == 422


def test_roles_and_scope(as_user: AsUser) -> None:
    assert as_user("maria").post("/api/v1/holds", json={"hold": [hold("L")]}).status_code == 403
    sam = as_user("sam")  # supervisor of plant1
    outside = sam.post("/api/v1/holds", json={"hold": [hold("L", site="plant2")]})
    assert outside.status_code == 403 and "hold[0]" in outside.json()["detail"]
    everywhere = sam.post("/api/v1/holds", json={"hold": [{"lot": "L", "reason": "r"}]})
    assert everywhere.status_code == 403  # a hold at every site needs an unscoped user
    ok(sam.post("/api/v1/holds", json={"hold": [hold("L", line="L1", area="press")]}))
    assert [h["lot"] for h in ok(as_user("maria").get("/api/v1/holds"))] == ["L"]
    assert ok(as_user("otto").get("/api/v1/holds")) == []  # paint only
