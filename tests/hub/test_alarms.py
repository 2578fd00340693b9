"""The alarm lifecycle through a real hub: occurrences from events, ack (hub and panel), shelve
with its durable timer, suppression, out of service, history, commands and scope."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx

from tests.hub.conftest import AGENT, OTHER_AGENT, FakeClock, RunningHub, batch, event

AsUser = Callable[[str], httpx.Client]
PRESS = {"site": "plant1", "area": "press", "line": "L1"}


def raised(
    seq: int, tag: str = "press1.temp", value: Any = 91.5, severity: str = "low", **context: Any
) -> dict[str, Any]:
    return event(
        seq,
        context.pop("agent_id", AGENT),
        type="alarm.raised",
        tag=tag,
        value=value,
        rule=f"{tag}.high",
        severity=severity,
        category="equipment",
        context={**PRESS, **context},
    )


def cleared(seq: int, occurrence: str, agent_id: str = AGENT) -> dict[str, Any]:
    return event(
        seq, agent_id, type="alarm.cleared", tag="press1.temp", value=70.0,
        context={"occurrence": occurrence},
    )  # fmt: skip


def panel_ack(
    seq: int, occurrence: str, by: str = "bob", note: str | None = None
) -> dict[str, Any]:
    context = {"occurrence": occurrence, "by": by, "note": note, "channel": "agent-panel"}
    return event(seq, type="alarm.acked", tag="press1.temp", context=context)


def alarms(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    reply = client.get("/api/v1/alarms", params=params)
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def history(client: httpx.Client, alarm_id: int) -> list[tuple[str, str, str]]:
    reply = client.get(f"/api/v1/alarms/{alarm_id}/history")
    assert reply.status_code == 200, reply.text
    return [(h["action"], h["actor"], h["channel"]) for h in reply.json()]


def ingest(agent: httpx.Client, *events: dict[str, Any]) -> dict[str, Any]:
    reply = agent.post("/api/v1/ingest", json=batch(*events))
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    assert body["rejected"] == []
    return body


def test_raise_clear_ack_walks_the_isa_states(agent: httpx.Client, as_user: AsUser) -> None:
    maria = as_user("maria")
    ingest(agent, raised(1))
    [alarm] = alarms(maria)
    assert (alarm["agent_id"], alarm["occurrence"], alarm["rule"]) == (
        AGENT,
        "line1:1",
        "press1.temp.high",
    )
    assert (alarm["site"], alarm["area"], alarm["line"]) == ("plant1", "press", "L1")
    assert (alarm["state"], alarm["active"], alarm["acknowledged"]) == ("unack-active", True, False)
    assert alarm["raised_at"] == "2026-03-01T08:00:01Z" and alarm["value"] == 91.5

    ingest(agent, cleared(2, "line1:1"))
    [alarm] = alarms(maria)
    assert (alarm["state"], alarm["cleared_value"]) == ("returned-unack", 70.0)
    assert alarm["cleared_at"] == "2026-03-01T08:00:02Z" and alarm["value"] == 91.5

    reply = maria.post(f"/api/v1/alarms/{alarm['id']}/ack", json={"channel": "hmi"})
    assert reply.status_code == 200, reply.text
    assert (reply.json()["state"], reply.json()["acked_by"]) == ("normal", "maria")
    assert history(maria, alarm["id"]) == [
        ("raised", "agent:line1", "agent"),
        ("returned", "agent:line1", "agent"),
        ("acknowledged", "user:maria", "hmi"),
    ]
    actions = [r["action"] for r in alarms_audit(as_user("ada"), alarm["id"])]
    assert actions == ["alarm.raised", "alarm.returned", "alarm.acknowledged"]


def alarms_audit(client: httpx.Client, alarm_id: int) -> list[dict[str, Any]]:
    reply = client.get("/api/v1/audit", params={"object_type": "alarm", "object_id": alarm_id})
    assert reply.status_code == 200
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def test_occurrences_are_keyed_per_agent(
    hub: RunningHub, agent: httpx.Client, as_user: AsUser, agent_tokens: dict[str, str]
) -> None:
    ingest(agent, raised(1, occurrence="occ-1"), raised(2, occurrence="occ-1"))  # second: same key
    with hub.client(agent_tokens[OTHER_AGENT]) as other:
        body = other.post(
            "/api/v1/ingest",
            json=batch(
                raised(1, occurrence="occ-1", agent_id=OTHER_AGENT),
                cleared(2, "occ-1", OTHER_AGENT),
                agent_id=OTHER_AGENT,
            ),
        ).json()
        assert body["accepted"] == ["line2:1", "line2:2"]
    by_agent = {a["agent_id"]: a for a in alarms(as_user("ada"))}
    assert len(alarms(as_user("ada"))) == 2
    assert by_agent[AGENT]["state"] == "unack-active"
    assert by_agent[OTHER_AGENT]["state"] == "returned-unack"


def test_filters_and_pages(agent: httpx.Client, as_user: AsUser) -> None:
    ingest(
        agent,
        raised(1, severity="high"),
        raised(2, tag="press2.temp"),
        raised(3, area="paint"),
        cleared(4, "line1:1"),
    )
    ada = as_user("ada")
    assert [a["occurrence"] for a in alarms(ada)] == ["line1:3", "line1:2", "line1:1"]
    assert [a["occurrence"] for a in alarms(ada, state="unack-active")] == ["line1:3", "line1:2"]
    both = alarms(ada, state=["returned-unack", "unack-active"], area="press")
    assert [a["occurrence"] for a in both] == ["line1:2", "line1:1"]
    assert [a["occurrence"] for a in alarms(ada, severity="high")] == ["line1:1"]
    assert alarms(ada, site="plant2") == []
    assert ada.get("/api/v1/alarms", params={"state": "bogus"}).status_code == 422
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        body = ada.get("/api/v1/alarms", params=params).json()
        seen += [a["occurrence"] for a in body["items"]]
        if body["next"] is None:
            break
        params["after"] = body["next"]
    assert seen == ["line1:3", "line1:2", "line1:1"]


def test_scope_hides_other_areas_and_unlocated_alarms(agent: httpx.Client, as_user: AsUser) -> None:
    ingest(agent, raised(1), raised(2, area="paint"), raised(3, area=None, site=None))
    ids = {a["occurrence"]: a["id"] for a in alarms(as_user("ada"))}
    maria, otto = as_user("maria"), as_user("otto")
    assert [a["occurrence"] for a in alarms(maria)] == ["line1:1"]
    assert [a["occurrence"] for a in alarms(otto)] == ["line1:2"]
    for path in ("", "/history"):
        assert otto.get(f"/api/v1/alarms/{ids['line1:1']}{path}").status_code == 404
    assert otto.post(f"/api/v1/alarms/{ids['line1:1']}/ack", json={}).status_code == 404
    assert maria.get(f"/api/v1/alarms/{ids['line1:3']}").status_code == 404
    assert maria.get(f"/api/v1/alarms/{ids['line1:1']}").json()["state"] == "unack-active"
    assert as_user("sam").get(f"/api/v1/alarms/{ids['line1:2']}").status_code == 200


def test_hub_ack_becomes_a_command_until_the_agent_reports(
    agent: httpx.Client, as_user: AsUser, clock: FakeClock
) -> None:
    ingest(agent, raised(1, severity="critical"))
    maria = as_user("maria")
    [alarm] = alarms(maria)
    no_note = maria.post(f"/api/v1/alarms/{alarm['id']}/ack", json={"note": "  "})
    assert no_note.status_code == 422 and "note is required" in no_note.json()["detail"]
    assert (
        maria.post(f"/api/v1/alarms/{alarm['id']}/ack", json={"note": "x", "by": "me"}).status_code
        == 422
    )
    acked = maria.post(f"/api/v1/alarms/{alarm['id']}/ack", json={"note": "valve checked"})
    assert acked.status_code == 200

    [command] = ingest(agent, event(2))["commands"]
    assert command["kind"] == "ack"
    assert command["payload"] == {
        "occurrence": "line1:1",
        "by": "maria",
        "note": "valve checked",
        "at": clock.now.isoformat(),
    }
    # Repeated on every reply until the agent answers; an answer for an unknown id changes nothing.
    result = {"command_id": "nope", "ok": True}
    assert ingest(agent, event(3, type="command.result", context=result))["commands"] == [command]
    result = {"command_id": command["command_id"], "ok": True}
    # The agent applies the command and reports the ack it made as the hub's: no second ack.
    echo = {"occurrence": "line1:1", "by": "maria", "note": "valve checked", "channel": "hub"}
    echoed = event(5, type="alarm.acked", tag="press1.temp", context=echo)
    assert ingest(agent, event(4, type="command.result", context=result), echoed)["commands"] == []
    assert [h[0] for h in history(maria, alarm["id"])] == ["raised", "acknowledged"]
    assert agent.post("/api/v1/ingest", json=batch()).json()["commands"] == []

    again = as_user("olga").post(f"/api/v1/alarms/{alarm['id']}/ack", json={"note": "me too"})
    assert again.status_code == 409
    assert "already acknowledged by maria via api" in again.json()["detail"]
    assert [h[0] for h in history(maria, alarm["id"])] == ["raised", "acknowledged", "ack_ignored"]


def test_panel_ack_first_wins_and_the_later_hub_ack_is_recorded(
    agent: httpx.Client, as_user: AsUser
) -> None:
    ingest(agent, raised(1), panel_ack(2, "line1:1", by="bob", note="on it"))
    maria = as_user("maria")
    [alarm] = alarms(maria)
    assert (alarm["state"], alarm["acked_by"], alarm["ack_channel"]) == (
        "ack-active",
        "bob",
        "agent-panel",
    )
    assert maria.post(f"/api/v1/alarms/{alarm['id']}/ack", json={}).status_code == 409
    assert ingest(agent, event(3))["commands"] == []  # the losing ack sends nothing

    ingest(agent, raised(4))
    [second, _] = alarms(maria)
    assert maria.post(f"/api/v1/alarms/{second['id']}/ack", json={}).status_code == 200
    ingest(agent, panel_ack(5, "line1:4", by="eve"))  # too late: the hub's ack came first
    assert history(maria, second["id"]) == [
        ("raised", "agent:line1", "agent"),
        ("acknowledged", "user:maria", "api"),
        ("ack_ignored", "panel:line1:eve", "agent-panel"),
    ]
    assert history(maria, alarm["id"])[-1] == ("ack_ignored", "user:maria", "api")


def test_shelve_hides_the_alarm_and_its_new_occurrences(
    agent: httpx.Client, as_user: AsUser, clock: FakeClock
) -> None:
    ingest(agent, raised(1))
    maria = as_user("maria")
    [alarm] = alarms(maria)
    url = f"/api/v1/alarms/{alarm['id']}"
    assert maria.post(f"{url}/shelve", json={"minutes": 481, "reason": "x"}).status_code == 422
    assert maria.post(f"{url}/shelve", json={"minutes": 10}).status_code == 422
    assert maria.post(f"{url}/shelve", json={"minutes": "10", "reason": "x"}).status_code == 422
    assert (
        as_user("pia").post(f"{url}/shelve", json={"minutes": 5, "reason": "x"}).status_code == 403
    )
    shelved = maria.post(f"{url}/shelve", json={"minutes": 30, "reason": "sensor swap"})
    assert shelved.status_code == 200, shelved.text
    body = shelved.json()
    assert (body["state"], body["shelve_reason"]) == ("shelved", "sensor swap")
    assert body["shelved_until"] == (clock.now + timedelta(minutes=30)).isoformat().replace(
        "+00:00", "Z"
    )

    ingest(agent, cleared(2, "line1:1"), raised(3))
    assert [a["state"] for a in alarms(maria)] == ["shelved", "shelved"]
    assert alarms(maria, state="unack-active") == []
    assert maria.post(f"{url}/unshelve", json={"reason": "done"}).status_code == 200
    assert maria.post(f"{url}/unshelve", json={}).status_code == 409
    assert [a["state"] for a in alarms(maria)] == ["unack-active", "returned-unack"]
    assert [h[0] for h in history(maria, alarm["id"])] == [
        "raised",
        "shelved",
        "returned",
        "unshelved",
    ]


def test_shelve_ends_by_the_durable_timer_across_a_restart(
    hub: RunningHub, agent_tokens: dict[str, str], clock: FakeClock, as_user: AsUser
) -> None:
    with hub.client(agent_tokens[AGENT]) as agent:
        ingest(agent, raised(1))
    maria = as_user("maria")
    [alarm] = alarms(maria)
    url = f"/api/v1/alarms/{alarm['id']}"
    assert maria.post(f"{url}/shelve", json={"minutes": 10, "reason": "x"}).status_code == 200
    hub.stop()
    clock.advance(timedelta(minutes=11))
    hub.start()  # the lifespan catches up on the expiry before it serves
    with hub.client() as anon:
        from tests.hub.conftest import login

        with hub.client(login(anon, "maria")) as again:
            assert again.get(url).json()["state"] == "unack-active"
            assert history(again, alarm["id"])[-1] == ("unshelved", "system", "system")
            entry = again.get(f"{url}/history").json()[-1]
            assert entry["reason"] == "shelve expired"


def test_suppress_and_out_of_service_are_for_supervisors(
    agent: httpx.Client, as_user: AsUser
) -> None:
    ingest(agent, raised(1))
    [alarm] = alarms(as_user("maria"))
    url = f"/api/v1/alarms/{alarm['id']}"
    assert as_user("maria").post(f"{url}/suppress", json={"reason": "x"}).status_code == 403
    sam = as_user("sam")
    assert sam.post(f"{url}/suppress", json={}).status_code == 422  # reason required
    assert (
        sam.post(f"{url}/suppress", json={"reason": "line stopped"}).json()["state"] == "suppressed"
    )
    assert sam.post(f"{url}/suppress", json={"reason": "again"}).status_code == 409
    oos = sam.post(f"{url}/out-of-service", json={"reason": "sensor removed"}).json()
    assert (oos["state"], oos["suppressed"], oos["out_of_service"]) == (
        "out-of-service",
        True,
        True,
    )
    assert sam.post(f"{url}/unsuppress", json={}).json()["state"] == "out-of-service"
    assert sam.post(f"{url}/in-service", json={}).json()["state"] == "unack-active"
    assert [h[0] for h in history(sam, alarm["id"])] == [
        "raised",
        "suppressed",
        "removed_from_service",
        "unsuppressed",
        "returned_to_service",
    ]
    assert (
        as_user("ada").post("/api/v1/alarms/999/suppress", json={"reason": "x"}).status_code == 404
    )
