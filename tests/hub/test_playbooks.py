"""Playbooks: file validation with key paths, runs started by ingested alarm raises, the run
chain, and the policy version pinned to each run."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from floorgate.cli import main
from floorgate.configfile import ConfigError
from hub.playbooks.loader import validate_playbook_file
from hub.playbooks.model import PANEL_REFUSED
from tests.hub.conftest import AGENT, OTHER_AGENT, FakeClock
from tests.hub.governance_helpers import (
    PANEL,
    PRESS_PLAYBOOK,
    Clients,
    actions,
    governed,
    ingest,
    items,
    ok,
    raised,
    seed_with_panel,
    start_hub,
)

EXAMPLES = Path(__file__).parents[2] / "deploy" / "examples" / "playbooks"


@pytest.fixture
def gov(
    tmp_path: Path,
    seeded_db: tuple[Path, dict[str, str]],
    clock: FakeClock,
    tls_context: ssl.SSLContext,
) -> Iterator[Clients]:
    with governed(
        tmp_path, seeded_db, clock, tls_context, {"press.yaml": PRESS_PLAYBOOK}
    ) as clients:
        yield clients


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_playbooks_are_valid(path: Path) -> None:
    validate_playbook_file(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("id: x\nname: x\nmatch: {}\nsteps: []", "steps: List should have at least 1 item"),
        (
            "id: x\nname: x\nmatch: {}\nsteps:\n - {id: a, kind: task, title: t, assignee: {}}",
            "steps[0].assignee: give exactly one of role or user",
        ),
        (
            "id: x\nname: x\nmatch: {}\nsteps:\n"
            " - {id: a, kind: task, title: t, assignee: {role: chef}}",
            "steps[0].assignee.role: Input should be",
        ),
        (
            "id: x\nname: x\nmatch: {}\nsteps:\n"
            " - {id: a, kind: task, title: t, assignee: {role: quality}, due: 5min,"
            " remind_before: 10min}",
            "steps[0].remind_before: must be shorter than due",
        ),
        (
            "id: x\nname: x\nmatch: {}\nsteps:\n"
            " - {id: a, kind: task, title: t, assignee: {role: quality}}\n"
            " - {id: p, kind: parallel, steps: [{id: a, kind: constraint, status: reduced,"
            " reason: r}]}",
            "steps[1].steps[0].id: step id 'a' is already used by steps[0].id",
        ),
        (
            "id: x\nname: x\nmatch: {}\nsteps:\n"
            " - {id: a, kind: approval, title: t, meaning: m, approvers: [{role: quality}],"
            " default_decision: reject}",
            "steps[0].default_decision: needs a due time",
        ),
        ("id: x\nname: x\nmatch: {types: [value]}\nsteps: []", "match.types[0]: Input should be"),
    ],
)
def test_invalid_playbooks_name_the_key_path(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        validate_playbook_file(path)
    assert f"{path}: {problem}" in str(caught.value)


def test_an_alarm_raise_starts_a_run_and_the_chain_shows_it(gov: Clients) -> None:
    ingest(gov.agent, raised(1))
    ada = gov("ada")
    [run] = items(ada, "/api/v1/runs")
    assert (run["playbook_id"], run["trigger"], run["agent_id"], run["rule"]) == (
        "press-hot",
        "alarm",
        AGENT,
        "press1.temp.high",
    )
    [playbook] = ok(ada.get("/api/v1/playbooks"))
    assert run["policy_version"] == playbook["version"]
    chain = ok(ada.get(f"/api/v1/runs/{run['id']}"))
    assert sorted((s["step_id"], s["status"]) for s in chain["steps"]) == [
        ("check-parts", "active"),
        ("fan-out", "active"),
        ("inspect", "active"),
        ("planners", "done"),
    ]
    assert {t["title"] for t in chain["tasks"]} == {"Inspect the press", "Check the last parts"}
    [constraint] = chain["constraints"]
    assert (constraint["status"], constraint["capacity_impact_percent"]) == ("reduced", 50)
    assert chain["outcome"]["seconds_to_notify_all"] is not None
    assert "run.started" in actions(ada, object_type="run")
    # A repeat raise of the same alarm while the run is open is a recurrence, not a new run.
    ingest(gov.agent, raised(2))
    [again] = items(ada, "/api/v1/runs")
    assert (again["id"], again["recurrences"]) == (run["id"], 1)


def test_editing_a_playbook_never_changes_work_in_flight(
    gov: Clients, tmp_path: Path, agent_tokens: dict[str, str]
) -> None:
    ingest(gov.agent, raised(1))
    ada, maria, quinn = gov("ada"), gov("maria"), gov("quinn")
    [first] = items(ada, "/api/v1/runs")
    edited = PRESS_PLAYBOOK.replace("title: Continue under deviation?", "title: Edited title")
    (tmp_path / "playbooks" / "press.yaml").write_text(edited, encoding="utf-8")
    [reloaded] = ok(gov("sam").post("/api/v1/playbooks/reload"))
    assert reloaded["version"] != first["policy_version"]
    assert "playbooks.loaded" in actions(ada, object_type="playbooks")

    # The run in flight opens its approval from the version it started with.
    for task in items(maria, "/api/v1/tasks") + items(quinn, "/api/v1/tasks"):
        who = maria if task["step_id"] == "inspect" else quinn
        ok(who.post(f"/api/v1/tasks/{task['id']}/complete", json={}))
    [approval] = items(ada, "/api/v1/approvals", assigned="scope")
    assert (approval["run_id"], approval["title"]) == (first["id"], "Continue under deviation?")

    # A new occurrence (here the same alarm at another agent) runs the new version.
    with gov.hub.client(agent_tokens[OTHER_AGENT]) as other:
        ingest(other, raised(1, agent_id=OTHER_AGENT))
    second, _ = items(ada, "/api/v1/runs")
    assert (second["agent_id"], second["policy_version"]) == (OTHER_AGENT, reloaded["version"])


def test_an_invalid_file_is_refused_on_reload_and_the_old_version_stays(
    gov: Clients, tmp_path: Path
) -> None:
    sam = gov("sam")
    [before] = ok(sam.get("/api/v1/playbooks"))
    (tmp_path / "playbooks" / "broken.yaml").write_text("id: Bad Id\n", encoding="utf-8")
    reply = sam.post("/api/v1/playbooks/reload")
    assert reply.status_code == 422
    assert "broken.yaml: id" in reply.json()["detail"]
    assert ok(sam.get("/api/v1/playbooks")) == [before]
    assert gov("maria").post("/api/v1/playbooks/reload").status_code == 403


PANEL_PLAYBOOK = """
id: panel-work
name: Work given to a panel
match: {rules: ["never"]}
steps:
  - id: fan-out
    kind: parallel
    steps:
      - {id: look, kind: task, title: Look, assignee: {role: maintenance}, due: 5min,
         escalate_to: [{role: supervisor}, {role: panel}]}
  - {id: sign, kind: approval, title: Sign, meaning: I sign, approvers: [{role: panel}]}
  - {id: fix, kind: task, title: Fix, assignee: {role: panel}}
"""


def test_check_config_refuses_a_panel_as_assignee_with_the_key_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "panel.yaml"
    path.write_text(PANEL_PLAYBOOK, encoding="utf-8")
    assert main(["check-config", str(path)]) == 1
    errors = capsys.readouterr().err
    for key in ("steps[0].steps[0].escalate_to[1].role", "steps[1].approvers[0].role",
                "steps[2].assignee.role"):  # fmt: skip
        assert f"{path}: {key}: {PANEL_REFUSED} (got 'panel')" in errors, errors


@pytest.fixture
def with_panel(
    tmp_path: Path,
    seeded_db: tuple[Path, dict[str, str]],
    clock: FakeClock,
    tls_context: ssl.SSLContext,
) -> Iterator[Clients]:
    """The ``gov`` hub, with a panel account (the shared HMI device of the press area)."""
    seed = seed_with_panel(seeded_db[0], tmp_path)
    hub = start_hub(tmp_path, seed, clock, tls_context, {"press.yaml": PRESS_PLAYBOOK})
    clients = Clients(hub, seeded_db[1][AGENT])
    yield clients
    clients.close()
    hub.stop()


def test_the_hub_refuses_a_playbook_naming_a_panel_account(
    with_panel: Clients, tmp_path: Path
) -> None:
    sam = with_panel("sam")
    [before] = ok(sam.get("/api/v1/playbooks"))
    text = PANEL_PLAYBOOK.replace("{role: panel}", f"{{user: {PANEL}}}")
    (tmp_path / "playbooks" / "panel.yaml").write_text(text, encoding="utf-8")
    reply = sam.post("/api/v1/playbooks/reload")
    assert reply.status_code == 422
    detail = reply.json()["detail"]
    for key in ("steps[0].steps[0].escalate_to[1].user", "steps[1].approvers[0].user",
                "steps[2].assignee.user"):  # fmt: skip
        assert f"panel.yaml: {key}: {PANEL_REFUSED} ({PANEL!r} is a panel account)" in detail
    assert ok(sam.get("/api/v1/playbooks")) == [before]
    # The same file naming a person loads.
    (tmp_path / "playbooks" / "panel.yaml").write_text(text.replace(PANEL, "maria"))
    assert {p["id"] for p in ok(sam.post("/api/v1/playbooks/reload"))} == {
        "press-hot",
        "panel-work",
    }
