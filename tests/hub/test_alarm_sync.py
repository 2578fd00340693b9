"""Alarm flags in both directions through a real hub: changes made at the agent's panel arrive as
events and are applied (or recorded as ignored when a hub change came first); changes made at the
hub become commands for the agent."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.hub.conftest import AGENT, T0, FakeClock, event
from tests.hub.test_alarms import PRESS, AsUser, alarms, ingest, raised

RULE = "press1.temp.high"


def flag_event(
    seq: int, kind: str, occurrence: str | None = "line1:1", **context: Any
) -> dict[str, Any]:
    """An alarm flag change as the agent sends it (see edge_agent.alarms)."""
    body = {**PRESS, "by": "ana", "channel": "agent-panel", "seen": None, **context}
    if occurrence is not None:
        body["occurrence"] = occurrence
    return event(seq, type=kind, tag="press1.temp", value=None, rule=RULE, context=body)


def history(client: httpx.Client, alarm_id: int) -> list[dict[str, Any]]:
    reply = client.get(f"/api/v1/alarms/{alarm_id}/history")
    assert reply.status_code == 200, reply.text
    entries: list[dict[str, Any]] = reply.json()
    return entries


def at(seq: int) -> str:
    """The source time of the event with ``seq``, as the API shows times."""
    return (T0 + timedelta(seconds=seq)).isoformat().replace("+00:00", "Z")


def iso(moment: datetime) -> str:
    return moment.isoformat()


def test_panel_shelve_and_unshelve_reach_the_hubs_occurrence(
    agent: httpx.Client, as_user: AsUser
) -> None:
    ingest(agent, raised(1))
    until = T0 + timedelta(minutes=30)
    ingest(agent, flag_event(2, "alarm.shelved", until=iso(until), reason="sensor swap"))
    maria = as_user("maria")
    [alarm] = alarms(maria)
    assert (alarm["state"], alarm["shelve_reason"]) == ("shelved", "sensor swap")
    assert alarm["shelved_until"] == until.isoformat().replace("+00:00", "Z")
    shelved = history(maria, alarm["id"])[-1]
    assert (shelved["action"], shelved["actor"], shelved["channel"]) == (
        "shelved",
        "panel:line1:ana",
        "agent-panel",
    )
    assert (shelved["reason"], shelved["at"]) == ("sensor swap", at(2))

    ingest(agent, flag_event(3, "alarm.unshelved", until=iso(until), reason="done", by="ben"))
    [alarm] = alarms(maria)
    assert alarm["state"] == "unack-active"
    entry = history(maria, alarm["id"])[-1]
    assert (entry["action"], entry["actor"], entry["reason"]) == (
        "unshelved",
        "panel:line1:ben",
        "done",
    )
    # Nothing for the agent to do: the change came from it.
    assert ingest(agent, event(4))["commands"] == []


def test_a_shelve_expiring_at_the_agent_ends_the_hubs_once(
    agent: httpx.Client, as_user: AsUser, clock: FakeClock
) -> None:
    ingest(agent, raised(1))
    until = T0 + timedelta(minutes=10)
    ingest(agent, flag_event(2, "alarm.shelved", until=iso(until), reason="x"))
    expired: dict[str, Any] = {
        "until": iso(until),
        "expired": True,
        "by": "agent",
        "channel": "agent",
    }
    ingest(agent, flag_event(3, "alarm.unshelved", reason="shelve expired", **expired))
    maria = as_user("maria")
    [alarm] = alarms(maria)
    assert alarm["state"] == "unack-active"
    entry = history(maria, alarm["id"])[-1]
    assert (entry["action"], entry["actor"], entry["channel"], entry["reason"]) == (
        "unshelved",
        "agent:line1",
        "agent",
        "shelve expired at the agent",
    )
    # Shelved again; this time the hub's own timer ends it first: the agent's report of the
    # same expiry adds nothing.
    until = T0 + timedelta(minutes=20)
    ingest(agent, flag_event(4, "alarm.shelved", until=iso(until), reason="y"))
    clock.advance(timedelta(minutes=21))
    _wait(lambda: history(maria, alarm["id"])[-1]["actor"] == "system")
    before = len(history(maria, alarm["id"]))
    ingest(agent, flag_event(5, "alarm.unshelved", **{**expired, "until": iso(until)}))
    assert len(history(maria, alarm["id"])) == before
    assert history(maria, alarm["id"])[-1]["actor"] == "system"


def test_hub_changes_become_commands_for_the_agent(
    agent: httpx.Client, as_user: AsUser, clock: FakeClock
) -> None:
    ingest(agent, raised(1))
    [alarm] = alarms(as_user("maria"))
    url = f"/api/v1/alarms/{alarm['id']}"
    maria, sam = as_user("maria"), as_user("sam")
    assert maria.post(f"{url}/shelve", json={"minutes": 30, "reason": "swap"}).status_code == 200
    assert maria.post(f"{url}/unshelve", json={"reason": "done"}).status_code == 200
    assert sam.post(f"{url}/suppress", json={"reason": "line idle"}).status_code == 200
    assert sam.post(f"{url}/out-of-service", json={"reason": "removed"}).status_code == 200
    assert sam.post(f"{url}/in-service", json={}).status_code == 200
    commands = ingest(agent, event(2))["commands"]
    until = (clock.now + timedelta(minutes=30)).isoformat()
    now = clock.now.isoformat()
    assert [(c["kind"], c["payload"]) for c in commands] == [
        ("shelve", {"rule": RULE, "until": until, "before": None, "reason": "swap",
                    "by": "user:maria", "at": now}),
        ("shelve", {"rule": RULE, "until": None, "before": until, "reason": "done",
                    "by": "user:maria", "at": now}),
        ("flag", {"rule": RULE, "flag": "suppressed", "on": True, "reason": "line idle",
                  "by": "user:sam", "at": now}),
        ("flag", {"rule": RULE, "flag": "out_of_service", "on": True, "reason": "removed",
                  "by": "user:sam", "at": now}),
        ("flag", {"rule": RULE, "flag": "out_of_service", "on": False, "reason": None,
                  "by": "user:sam", "at": now}),
    ]  # fmt: skip
    # A refused change (409) queues nothing.
    assert maria.post(f"{url}/unshelve", json={}).status_code == 409
    results = [
        event(3 + i, type="command.result", context={"command_id": c["command_id"], "ok": True})
        for i, c in enumerate(commands)
    ]
    assert ingest(agent, *results)["commands"] == []


def test_first_change_wins_and_the_other_is_recorded(
    agent: httpx.Client, as_user: AsUser, clock: FakeClock
) -> None:
    ingest(agent, raised(1))
    maria = as_user("maria")
    [alarm] = alarms(maria)
    url = f"/api/v1/alarms/{alarm['id']}"
    assert maria.post(f"{url}/shelve", json={"minutes": 30, "reason": "hub"}).status_code == 200
    hub_until = alarms(maria)[0]["shelved_until"]
    issued = clock.now
    clock.advance(timedelta(minutes=1))

    # Made at the panel without having seen the hub's shelve: the hub's came first.
    mine = T0 + timedelta(minutes=60)
    ingest(agent, flag_event(2, "alarm.shelved", until=iso(mine), reason="panel"))
    [alarm] = alarms(maria)
    assert (alarm["shelved_until"], alarm["shelve_reason"]) == (hub_until, "hub")
    lost = history(maria, alarm["id"])[-1]
    assert (lost["action"], lost["actor"], lost["channel"]) == (
        "shelve_ignored",
        "panel:line1:ana",
        "agent-panel",
    )
    assert lost["reason"] == f"changed at the hub first, by user:maria at {issued.isoformat()}"

    # Made after the agent applied the hub's command (``seen``): it applies.
    ingest(agent, flag_event(3, "alarm.unshelved", reason="done", seen=iso(issued)))
    [alarm] = alarms(maria)
    assert alarm["state"] == "unack-active"
    assert history(maria, alarm["id"])[-1]["action"] == "unshelved"

    # A flag already so is recorded, not applied twice.
    ingest(agent, flag_event(4, "alarm.flag", flag="suppressed", on=True, reason="idle"))
    ingest(agent, flag_event(5, "alarm.flag", flag="suppressed", on=True, by="ben"))
    actions = [(h["action"], h["actor"]) for h in history(maria, alarm["id"])[-2:]]
    assert actions == [("suppressed", "panel:line1:ana"), ("suppress_ignored", "panel:line1:ben")]
    assert history(maria, alarm["id"])[-1]["reason"] == "already suppressed at the hub"
    assert alarms(maria)[0]["state"] == "suppressed"


def test_a_flag_set_before_the_first_occurrence_holds_for_it(
    agent: httpx.Client, as_user: AsUser
) -> None:
    ingest(
        agent,
        flag_event(1, "alarm.flag", occurrence=None, flag="out_of_service", on=True, reason="pm"),
        flag_event(2, "alarm.flag", occurrence=None, flag="hidden", on=True),  # kept as event only
    )
    ada = as_user("ada")
    records = ada.get("/api/v1/audit", params={"object_type": "alarm_definition"}).json()["items"]
    assert [(r["action"], r["object_id"], r["actor"]) for r in records] == [
        ("alarm.removed_from_service", f"{AGENT}:{RULE}", "panel:line1:ana")
    ]
    ingest(agent, raised(3))
    [alarm] = alarms(ada)
    assert (alarm["state"], alarm["out_of_service"]) == ("out-of-service", True)


def _wait(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """The hub's shelve timer runs on its own task: poll its outcome (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s")
