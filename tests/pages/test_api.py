"""The page-support API against a real hub: who am I, PINs, acting for a person at a shared
panel (and everything the audit keeps of it), and the communication states of sources."""

from __future__ import annotations

from typing import Any

import httpx

from hub.auth.service import IDENTIFY_MAX_FAILURES
from tests.hub.conftest import RunningHub
from tests.pages.conftest import AGENT, PAINT, PASSWORD, PIN, Ingest

AsUser = Any


def only_alarm(client: httpx.Client) -> dict[str, Any]:
    (alarm,) = client.get("/api/v1/alarms").json()["items"]
    assert isinstance(alarm, dict)
    return alarm


def audit(client: httpx.Client, **filters: Any) -> list[dict[str, Any]]:
    reply = client.get("/api/v1/audit", params={"limit": 1000, **filters})
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def test_me_lists_the_operations_of_the_role(as_user: AsUser) -> None:
    me = as_user("panel-press").get("/api/v1/me").json()
    assert (me["username"], me["role"], me["areas"], me["has_pin"]) == (
        "panel-press", "panel", ["press"], False,
    )  # fmt: skip
    assert "ack_alarm_on_behalf" in me["operations"]
    assert "list_audit" not in me["operations"]
    assert as_user("maria").get("/api/v1/me").json()["has_pin"] is True


def test_a_panel_acknowledges_for_the_person_who_enters_a_pin(
    as_user: AsUser, ingest: Ingest
) -> None:
    ingest.raise_alarm("press-temperature.hi", "press.temperature", 84.5, "high")
    panel = as_user("panel-press")
    alarm = only_alarm(panel)
    url = f"/api/v1/alarms/{alarm['id']}/ack-on-behalf"
    # The panel device never acts as itself.
    for action, body in (("ack", {"note": "x"}), ("shelve", {"minutes": 5, "reason": "x"})):
        direct = panel.post(f"/api/v1/alarms/{alarm['id']}/{action}", json=body)
        assert direct.status_code == 403, direct.text
        assert direct.json()["detail"] == f"role 'panel' may not call {action}_alarm"

    no_note = panel.post(url, json={"person": "maria", "secret": PIN})
    assert no_note.status_code == 422, no_note.text
    wrong = panel.post(url, json={"person": "maria", "secret": "000000", "note": "x"})
    assert wrong.status_code == 401
    stranger = panel.post(url, json={"person": "otto", "secret": "135791", "note": "x"})
    assert stranger.status_code == 403
    assert "not responsible" in stranger.json()["detail"]

    acked = panel.post(url, json={"person": "maria", "secret": PIN, "note": "checked on site"})
    assert acked.status_code == 200, acked.text
    body = acked.json()
    assert (body["state"], body["acked_by"], body["ack_channel"], body["ack_note"]) == (
        "ack-active", "maria", "hmi", "checked on site",
    )  # fmt: skip
    again = panel.post(url, json={"person": "maria", "secret": PIN, "note": "twice"})
    assert again.status_code == 409

    history = panel.get(f"/api/v1/alarms/{alarm['id']}/history").json()
    assert [(h["action"], h["actor"], h["channel"]) for h in history][1] == (
        "acknowledged", "user:maria", "hmi",
    )  # fmt: skip

    admin = as_user("ada")
    records = audit(admin, object_type="alarm", object_id=alarm["id"])
    (ack,) = [r for r in records if r["action"] == "alarm.acknowledged"]
    assert ack["actor"] == "user:maria"
    assert ack["data"]["channel"] == "hmi"
    identity = [(r["action"], r["actor"], r["data"]) for r in audit(admin, object_type="user")]
    at_panel = {"at": "user:panel-press", "purpose": "ack_alarm", "subject": f"alarm:{alarm['id']}"}
    assert ("identity.failed", "user:panel-press", at_panel) in identity  # the wrong PIN
    assert ("identity.verified", "user:maria", at_panel) in identity
    # The person's password works as well as the PIN (for people who have not set one).
    assert audit(admin, actor="user:panel-press", object_type="alarm") == []

    # Identification and action are one commit: each identity.verified is followed by the
    # alarm record it allowed (the ack, and the refused second ack). The attempt without a
    # note and otto's, out of his area, did nothing, so nobody was recorded as identified.
    chain = admin.get(f"/api/v1/pages/chain/{alarm['id']}").json()["entries"]
    by_seq = {r["record"]["seq"]: r["record"] for r in chain}
    verified = [r for r in by_seq.values() if r["action"] == "identity.verified"]
    assert [(r["actor"], by_seq[r["seq"] + 1]["action"]) for r in verified] == [
        ("user:maria", "alarm.acknowledged"), ("user:maria", "alarm.ack_ignored"),
    ]  # fmt: skip
    assert all(by_seq[r["seq"] + 1]["actor"] == "user:maria" for r in verified)
    assert [r["action"] for r in audit(admin, object_id="otto")] == [
        "user.created", "user.pin_set",
    ]  # fmt: skip


def test_a_password_works_where_no_pin_is_set_and_guessing_is_stopped(
    as_user: AsUser, ingest: Ingest
) -> None:
    ingest.raise_alarm("press-pressure.lo", "press.pressure", 80.0, "low")
    panel = as_user("panel-press")
    alarm = only_alarm(panel)
    url = f"/api/v1/alarms/{alarm['id']}/ack-on-behalf"
    for _ in range(IDENTIFY_MAX_FAILURES):
        assert panel.post(url, json={"person": "sam", "secret": "123456"}).status_code == 401
    locked = panel.post(url, json={"person": "sam", "secret": PASSWORD})
    assert locked.status_code == 429
    # Another person is not locked out by sam's failures; a password works without a PIN.
    assert panel.post(url, json={"person": "ada", "secret": PASSWORD}).status_code == 200


def test_shelve_on_behalf_names_the_person_and_respects_the_limit(
    hub: RunningHub, as_user: AsUser, ingest: Ingest
) -> None:
    ingest.raise_alarm("silo-level.lo", "silo.level", 12.0, "medium")
    panel = as_user("panel-press")
    alarm = only_alarm(panel)
    url = f"/api/v1/alarms/{alarm['id']}/shelve-on-behalf"
    body = {"person": "maria", "secret": PIN, "reason": "sensor swap"}
    too_long = panel.post(url, json={**body, "minutes": 10_000})
    assert too_long.status_code == 422
    shelved = panel.post(url, json={**body, "minutes": 30})
    assert shelved.status_code == 200, shelved.text
    assert shelved.json()["state"] == "shelved"
    records = audit(as_user("ada"), object_type="alarm", object_id=alarm["id"])
    (record,) = [r for r in records if r["action"] == "alarm.shelved"]
    assert (record["actor"], record["reason"]) == ("user:maria", "sensor swap")


def test_a_panel_cannot_act_outside_its_area(as_user: AsUser, ingest: Ingest) -> None:
    ingest.raise_alarm("oven.zone1.hi", "oven.zone1", 250.0, "high", where=PAINT)
    (alarm,) = as_user("ada").get("/api/v1/alarms").json()["items"]
    reply = as_user("panel-press").post(
        f"/api/v1/alarms/{alarm['id']}/ack-on-behalf",
        json={"person": "otto", "secret": "135791", "note": "x"},
    )
    assert reply.status_code == 404
    # The person was never asked: nothing about otto is in the audit.
    records = audit(as_user("ada"), object_type="user", object_id="otto")
    assert [r["action"] for r in records] == ["user.created", "user.pin_set"]


def test_people_set_their_own_pin_with_their_password(as_user: AsUser) -> None:
    quinn = as_user("quinn")
    wrong = quinn.put("/api/v1/me/pin", json={"password": "nope", "pin": "112233"})
    assert wrong.status_code == 401
    short = quinn.put("/api/v1/me/pin", json={"password": PASSWORD, "pin": "12a"})
    assert short.status_code == 422
    assert (
        quinn.put("/api/v1/me/pin", json={"password": PASSWORD, "pin": "112233"}).status_code == 204
    )
    assert quinn.get("/api/v1/me").json()["has_pin"] is True
    (record,) = [
        r for r in audit(as_user("ada"), object_id="quinn") if r["action"] == "user.pin_set"
    ]
    assert record["actor"] == "user:quinn"
    assert "112233" not in str(record)


def test_hmi_status_reports_sources_from_comm_and_health_events(
    as_user: AsUser, ingest: Ingest
) -> None:
    where = {"site": "plant1", "area": "press"}
    ingest.send("health", context={**where, "source.press-plc": "up", "source.scale": "connecting",
                                   "hub_reachable": True})  # fmt: skip
    ingest.send("comm.lost", quality="bad", context={**where, "source": "press-plc",
                                                    "reason": "timeout"})  # fmt: skip
    ingest.send("value", tag="press.temperature", value=70.0, context=where)
    status = as_user("panel-press").get("/api/v1/pages/hmi").json()
    assert status["note_required"] == ["critical", "high"]
    assert status["max_shelve_minutes"] == 480
    sources = {(s["source"], s["state"], s["via"], s["reason"]) for s in status["sources"]}
    assert sources == {
        ("press-plc", "down", "comm", "timeout"),
        ("scale", "connecting", "health", None),
    }
    (agent,) = status["agents"]
    assert (agent["agent_id"], agent["silent"], agent["hub_reachable"]) == (AGENT, False, True)
    assert agent["last_seen_age_seconds"] < 30
    # A panel of another area sees none of it.
    assert as_user("otto").get("/api/v1/pages/hmi").json()["sources"] == []


def test_pages_are_served_without_a_session_with_a_strict_policy(hub: RunningHub) -> None:
    with hub.client() as anon:
        for path in ("/login", "/hmi", "/audit", "/approvals", "/planner"):
            reply = anon.get(path)
            assert reply.status_code == 200, path
            assert reply.headers["content-type"].startswith("text/html")
            assert "script-src 'self'" in reply.headers["content-security-policy"]
            assert "<script>" not in reply.text  # no inline script anywhere
        assert anon.get("/").headers["location"] == "/login"
        css = anon.get("/static/pages.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert anon.get("/static/hmi.js").status_code == 200
        assert anon.get("/static/../app.py").status_code == 404
        assert anon.get("/api/v1/me").status_code == 401
