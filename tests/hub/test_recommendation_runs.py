"""A recommendation from a planning system runs through the same playbooks, approvals and audit
as a floor exception, through a real hub: the run names the submitter as its requester (who
then cannot approve), the decision is an e-signature, and the sender hears the decision and the
outcome by signed webhook; one that nothing matches, or that expired, is reported as ignored."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.hub.conftest import T0, FakeClock
from tests.hub.feeds_helpers import FAST_FEEDS, SECRET, Receiver, receiving
from tests.hub.governance_helpers import (
    MINUTE,
    Clients,
    actions,
    decide,
    governed,
    items,
    ok,
)

PLAYBOOK = """
id: expedite
name: Expedite a delivery
match:
  types: [recommendation.received]
  rules: ["recommendation.expedite"]
  sources: [aps]
steps:
  - id: approve
    kind: approval
    title: Expedite the delivery?
    meaning: I approve the cost of an expedited delivery
    mode: any_of
    approvers: [{role: planner}, {role: procurement}]
    when: value > 0
    on_approve: [{kind: webhook, event: supply.expedite_approved}]
"""


@pytest.fixture
def gov(
    tmp_path: Path,
    seeded_db: tuple[Path, dict[str, str]],
    clock: FakeClock,
    tls_context: ssl.SSLContext,
) -> Iterator[Clients]:
    with governed(
        tmp_path, seeded_db, clock, tls_context, {"expedite.yaml": PLAYBOOK}, **FAST_FEEDS
    ) as clients:
        yield clients


@pytest.fixture
def receiver(gov: Clients) -> Iterator[Receiver]:
    with receiving() as receiver:
        subscription = {
            "name": "aps",
            "url": receiver.url,
            "secret": SECRET,
            "events": ["recommendation.*", "supply.*"],
        }
        ok(gov("ada").post("/api/v1/webhooks/subscriptions", json=subscription))
        yield receiver


def recommendation(external_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "source_system": "aps",
        "external_id": external_id,
        "proposed_action": "expedite",
        "category": "supply",
        "scope": {"site": "plant1", "area": "press", "line": "L1"},
        "rationale": "silo S2 runs out 3 h before the planned end",
        "parameters": {"supplier": "acme", "quantity": 20},
        "expires_at": (T0 + timedelta(hours=2)).isoformat(),
        **fields,
    }


def test_a_recommendation_is_governed_and_its_outcome_reported(
    gov: Clients, receiver: Receiver
) -> None:
    pia, paco, ada = gov("pia"), gov("paco"), gov("ada")
    submitted = ok(pia.post("/api/v1/recommendations", json=recommendation("rec-1")))
    [received] = receiver.events(1)
    assert received["event"] == "recommendation.received"

    [run] = items(ada, "/api/v1/runs")
    assert (run["trigger"], run["rule"], run["agent_id"]) == (
        "recommendation",
        "recommendation.expedite",
        None,
    )
    chain = ok(ada.get(f"/api/v1/runs/{run['id']}"))
    assert (chain["requested_by"], chain["reason"]) == ("pia", submitted["rationale"])
    assert chain["context"]["recommendation_id"] == submitted["id"]
    # The recommendation has no "value": the condition is unknown and the approval opens.
    [approval] = chain["approvals"]
    assert approval["requested_by"] == "pia"

    refused = decide(pia, approval["id"])
    assert refused.status_code == 403 and "separation-of-duties" in refused.json()["detail"]
    assert decide(paco, approval["id"], password="wrong").status_code == 401
    ok(decide(paco, approval["id"]))
    events = {e["event"]: e for e in receiver.events(2)}
    assert set(events) == {"supply.expedite_approved", "recommendation.decided"}
    decided = events["recommendation.decided"]["data"]
    assert decided["run"]["recommendation"] == {
        "id": submitted["id"],
        "source_system": "aps",
        "external_id": "rec-1",
    }
    assert decided["approval"]["status"] == "approved"

    ok(ada.post(f"/api/v1/runs/{run['id']}/resolve", json={"resolution_code": "expedited"}))
    [resolved] = receiver.events(1)
    assert resolved["event"] == "recommendation.resolved"
    assert resolved["data"]["outcome"]["resolution_code"] == "expedited"
    assert resolved["data"]["run"]["recommendation"]["external_id"] == "rec-1"
    started = [r for r in items(ada, "/api/v1/audit", object_type="run", limit=100)]
    assert [r["actor"] for r in started if r["action"] == "run.started"] == ["user:pia"]
    assert ok(ada.get("/api/v1/audit/verify"))["ok"] is True


def test_unmatched_and_expired_recommendations_are_reported_as_ignored(
    gov: Clients, receiver: Receiver, clock: FakeClock
) -> None:
    pia, ada = gov("pia"), gov("ada")
    ok(pia.post("/api/v1/recommendations", json=recommendation("rec-2", source_system="erp")))
    soon = (T0 + MINUTE).isoformat()
    ok(pia.post("/api/v1/recommendations", json=recommendation("rec-3", expires_at=soon)))
    assert [e["event"] for e in receiver.events(2)] == ["recommendation.received"] * 2
    clock.advance(2 * MINUTE)  # rec-3 expires before the pump reaches it
    assert items(ada, "/api/v1/runs") == []
    ignored = {e["data"]["recommendation"]["external_id"]: e for e in receiver.events(2)}
    assert {k: e["data"]["reason"] for k, e in ignored.items()} == {
        "rec-2": "no playbook matches",
        "rec-3": "it expired before a playbook could start",
    }
    assert actions(ada, object_type="recommendation").count("recommendation.ignored") == 2
