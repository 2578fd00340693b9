"""Approvals: e-signatures (password again), separation of duties, assignee refusals, the
snapshot (live values, inventory, supply) at opening and at each signature, and the actions on
a decision."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.governance.records import snapshot_of
from tests.hub.conftest import AGENT, FakeClock
from tests.hub.governance_helpers import (
    MINUTE,
    PRESS_PLAYBOOK,
    Clients,
    audit,
    decide,
    governed,
    ingest,
    items,
    ok,
    raised,
    value,
)

SIGN_OFF = """
id: sign-off
name: Four eyes on a recipe change
match: {rules: ["never"]}
steps:
  - id: change
    kind: approval
    title: Change the recipe
    meaning: I approve the recipe change
    mode: all_of
    approvers: [{role: quality}, {user: quinn}, {role: planner}, {role: production}]
"""


@pytest.fixture
def gov(
    tmp_path: Path,
    seeded_db: tuple[Path, dict[str, str]],
    clock: FakeClock,
    tls_context: ssl.SSLContext,
) -> Iterator[Clients]:
    playbooks = {"press.yaml": PRESS_PLAYBOOK, "sign-off.yaml": SIGN_OFF}
    with governed(tmp_path, seeded_db, clock, tls_context, playbooks) as clients:
        yield clients


def open_release(gov: Clients) -> dict[str, Any]:
    """Raise the alarm, do both tasks (maria last: she becomes the approval's requester)."""
    ingest(gov.agent, value(1, "press1.temp", 91.0), value(2, "pack.lot", "LOT-7"), raised(3))
    quinn, maria = gov("quinn"), gov("maria")
    [check] = items(quinn, "/api/v1/tasks")
    ok(quinn.post(f"/api/v1/tasks/{check['id']}/complete", json={}))
    gov.hub.clock.advance(MINUTE)
    [inspect] = items(maria, "/api/v1/tasks")
    ok(maria.post(f"/api/v1/tasks/{inspect['id']}/complete", json={}))
    [approval] = items(gov("ada"), "/api/v1/approvals", assigned="scope")
    return approval


def test_sequential_signatures_with_refusals_audited(gov: Clients) -> None:
    approval = open_release(gov)
    assert (approval["requested_by"], approval["open_slots"]) == ("maria", [0])
    assert {v["tag"] for v in approval["snapshot"]["values"]} == {"press1.temp", "pack.lot"}
    assert all(v["age_seconds"] >= 0 for v in approval["snapshot"]["values"])
    quinn, pete = gov("quinn"), gov("pete")
    assert [a["id"] for a in items(quinn, "/api/v1/approvals")] == [approval["id"]]
    assert items(pete, "/api/v1/approvals") == []  # not pete's turn yet

    wrong = decide(quinn, approval["id"], password="not my password")
    assert wrong.status_code == 401 and "re-authentication" in wrong.json()["detail"]
    early = decide(pete, approval["id"])
    assert early.status_code == 403 and "rule assignee" in early.json()["detail"]

    first = ok(decide(quinn, approval["id"]))
    assert (first["status"], first["version"], first["open_slots"]) == ("pending", 2, [1])
    [signature] = first["signatures"]
    assert (signature["user_id"], signature["full_name"], signature["slot"]) == (
        "quinn",
        "Quinn Quality",
        0,
    )
    assert signature["meaning"] == "I approve running the press under deviation"
    assert {v["tag"] for v in signature["snapshot"]["values"]} == {"press1.temp", "pack.lot"}

    done = ok(decide(pete, approval["id"]))
    assert (done["status"], done["decision_source"]) == ("approved", "signature")

    records = audit(gov("ada"), object_type="approval", object_id=str(approval["id"]))
    refused = [(r["actor"], r["reason"]) for r in records if r["action"].endswith("refused")]
    assert refused == [
        ("user:quinn", "rule re-authentication: the password does not match"),
        ("user:pete", RULE_ASSIGNEE),
    ]
    # The signature is bound to the hash chain: its audit record carries the record hash.
    [signed] = [r for r in records if r["seq"] == signature["audit_seq"]]
    assert signed["action"] == "approval.signed"
    assert signed["data"]["record_hash"] == signature["record_hash"]
    assert signed["data"]["signature"]["evidence_hash"] == signature["evidence_hash"]
    assert ok(gov("ada").get("/api/v1/audit/verify"))["ok"] is True


RULE_ASSIGNEE = (
    "rule assignee: only an approver, a delegate or an escalation target may sign this approval"
)


def test_an_approved_write_goes_to_the_agent_which_may_refuse_it(gov: Clients) -> None:
    approval = open_release(gov)
    ok(decide(gov("quinn"), approval["id"]))
    ok(decide(gov("pete"), approval["id"]))
    reply = ingest(gov.agent, value(10, "press1.temp", 80.0))
    [write] = [c for c in reply["commands"] if c["kind"] == "write"]
    assert (write["payload"]["tag"], write["payload"]["value"]) == ("press1.setpoint", 75)
    # The agent does not declare the tag writable: it refuses and says so.
    result = {
        "command_id": write["command_id"],
        "kind": "write",
        "ok": False,
        "detail": "tag 'press1.setpoint' is not writable at this agent",
    }
    answer = {"type": "command.result", "tag": None, "value": None, "context": result}
    ingest(gov.agent, value(11, "press1.temp", 80.0) | answer)
    run = ok(gov("ada").get(f"/api/v1/runs/{approval['run_id']}"))
    [action] = run["actions"][-1:]
    assert (action["kind"], action["status"], action["detail"]) == (
        "write_tag",
        "failed",
        "tag 'press1.setpoint' is not writable at this agent",
    )
    assert run["outcome"]["seconds_to_decide"] is not None
    assert "action.failed" in [r["action"] for r in audit(gov("ada"), object_type="action")]


def test_separation_of_duties(gov: Clients) -> None:
    pia, quinn, pete = gov("pia"), gov("quinn"), gov("pete")
    run = ok(pia.post("/api/v1/runs", json={"playbook_id": "sign-off", "reason": "new recipe"}))
    [approval] = run["approvals"]
    assert approval["requested_by"] == "pia"
    own = decide(pia, approval["id"])
    assert own.status_code == 403
    assert own.json()["detail"] == (
        "rule separation-of-duties: whoever raised or requested cannot sign it"
    )
    ok(decide(quinn, approval["id"]))  # the quality entry
    twice = decide(quinn, approval["id"])  # quinn is also named in the second entry
    assert twice.status_code == 403
    assert "one person cannot sign two steps" in twice.json()["detail"]
    ok(decide(pete, approval["id"]))
    assert ok(gov("ada").get(f"/api/v1/approvals/{approval['id']}"))["open_slots"] == [1, 2]
    reasons = [
        r["reason"]
        for r in audit(gov("ada"), object_type="approval")
        if r["action"] == "approval.signature_refused"
    ]
    assert len(reasons) == 2 and all("separation-of-duties" in r for r in reasons)


def test_the_requester_of_an_approval_is_whoever_did_the_step_before(gov: Clients) -> None:
    approval = open_release(gov)
    refused = decide(gov("maria"), approval["id"])  # maria is not quality anyway
    assert refused.status_code == 403


def post_items(gov: Clients, inventory: list[dict[str, Any]], supply: list[dict[str, Any]]) -> None:
    paco = gov("paco")  # procurement: may post for every site
    stored = ok(
        paco.post("/api/v1/inventory", json={"source_system": "wms", "positions": inventory})
    )
    assert stored["stale"] == 0
    if supply:
        stored = ok(
            paco.post("/api/v1/supply", json={"source_system": "erp", "commitments": supply})
        )
        assert stored["stale"] == 0


def test_the_snapshot_holds_inventory_and_supply_with_their_age(gov: Clients) -> None:
    def position(item: str, quantity: float, minutes_old: int, **where: str) -> dict[str, Any]:
        as_of = (gov.hub.clock.now - minutes_old * MINUTE).isoformat()
        return {"site": "plant1", "item": item, "quantity": quantity, "unit": "kg",
                "as_of": as_of, **where}  # fmt: skip

    commitment = {"supplier": "ResinCo", "item": "resin", "quantity": 5000, "unit": "kg",
                  "due_at": (gov.hub.clock.now + 60 * MINUTE).isoformat(), "status": "at_risk",
                  "as_of": (gov.hub.clock.now - 30 * MINUTE).isoformat()}  # fmt: skip
    post_items(
        gov,
        [
            position("resin", 1200, 10, area="press", location="silo-2"),
            position("boxes", 80, 60),  # site-wide (no area): part of every area's snapshot
            position("paint", 3, 1, area="paint"),  # another area of the site
            position("resin", 7, 1, site="plant2", area="press"),  # another site
        ],
        [
            {**commitment, "reference": "PO-1", "site": "plant1", "area": "press"},
            {**commitment, "reference": "PO-9", "site": "plant2"},
        ],
    )
    approval = open_release(gov)  # opens one minute after the figures were posted

    def figures(snapshot: dict[str, Any]) -> tuple[set[Any], set[Any]]:
        inventory = {(p["site"], p["item"], p["quantity"], p["age_seconds"])
                     for p in snapshot["inventory"]}  # fmt: skip
        supply = {(c["reference"], c["status"], c["age_seconds"]) for c in snapshot["supply"]}
        return inventory, supply

    at_open = approval["snapshot"]
    assert figures(at_open) == (
        {("plant1", "resin", 1200, 11 * 60.0), ("plant1", "boxes", 80, 61 * 60.0)},
        {("PO-1", "at_risk", 31 * 60.0)},
    )
    assert {v["tag"] for v in at_open["values"]} == {"press1.temp", "pack.lot"}

    # A newer silo figure arrives before the decision: the signature holds it, and its age then.
    gov.hub.clock.advance(5 * MINUTE)
    post_items(gov, [position("resin", 900, 2, area="press", location="silo-2")], [])
    signed = ok(decide(gov("quinn"), approval["id"]))
    [signature] = signed["signatures"]
    assert figures(signature["snapshot"]) == (
        {("plant1", "resin", 900, 2 * 60.0), ("plant1", "boxes", 80, 66 * 60.0)},
        {("PO-1", "at_risk", 36 * 60.0)},
    )
    assert signature["oldest_age_seconds"] == 66 * 60.0  # the stalest figure of any kind
    assert signed["snapshot"] == at_open  # what the approval opened with does not change

    # Both snapshots are in the audit chain, as the API shows them.
    records = audit(gov("ada"), object_type="approval", object_id=str(approval["id"]))
    [opened] = [r for r in records if r["action"] == "approval.opened"]
    [sign] = [r for r in records if r["action"] == "approval.signed"]
    assert figures(opened["data"]["snapshot"]) == figures(at_open)
    assert figures(sign["data"]["snapshot"]) == figures(signature["snapshot"])
    assert ok(gov("ada").get("/api/v1/audit/verify"))["ok"] is True


def test_a_snapshot_stored_before_inventory_and_supply_reads_as_values() -> None:
    value = {"agent_id": AGENT, "tag": "press1.temp", "age_seconds": 2.0}
    assert snapshot_of([value]) == {"values": [value], "inventory": [], "supply": []}
    assert snapshot_of({"values": [], "supply": [value]})["supply"] == [value]
