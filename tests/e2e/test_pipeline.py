"""The whole first path as real processes: sim (Modbus TCP) -> agent -> hub -> GET /alarms."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import free_port
from tests.e2e.conftest import Processes, floorgate, wait_until_healthy

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _agent_config(tmp_path: Path, hub_port: int, modbus_port: int, token_file: Path) -> Path:
    config = yaml.safe_load((ROOT / "deploy" / "examples" / "agent.yaml").read_text())
    config["agent_id"] = "e2e-press"
    config["hub"].update(url=f"http://127.0.0.1:{hub_port}", token_file=str(token_file))
    config["buffer"]["path"] = str(tmp_path / "agent-buffer.sqlite")
    config["sources"][0].update(port=modbus_port, poll_interval="200ms")
    config["rules"][0]["on_delay"] = "1s"
    config["panel"] = {"port": 0}
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _alarms(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/api/v1/alarms")
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _wait_for(predicate: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.2)
    raise AssertionError(f"not true within {timeout} s")


def test_overtemperature_alarm_travels_from_plc_to_hub(
    tmp_path: Path, processes: Processes
) -> None:
    db = tmp_path / "hub.duckdb"
    hub_port, modbus_port, control_port = free_port(), free_port(), free_port()
    added = floorgate(
        "user",
        "add",
        "ana",
        "--role",
        "maintenance",
        "--password-stdin",
        "--db",
        str(db),
        stdin="correct horse battery\n",
    )
    assert added.returncode == 0, added.stderr
    created = floorgate("token", "create", "--agent", "e2e-press", "--db", str(db))
    assert created.returncode == 0, created.stderr
    token_file = tmp_path / "agent.token"
    token_file.write_text(created.stdout)

    hub = processes.start("hub", "hub", "--db", str(db), "--port", str(hub_port))
    sim = processes.start(
        "sim",
        "sim",
        "--modbus-port",
        str(modbus_port),
        "--control-port",
        str(control_port),
        "--opcua-port",
        "0",
    )
    wait_until_healthy(f"http://127.0.0.1:{hub_port}/healthz", hub)
    wait_until_healthy(f"http://127.0.0.1:{control_port}/healthz", sim)
    processes.start(
        "agent",
        "agent",
        "--config",
        str(_agent_config(tmp_path, hub_port, modbus_port, token_file)),
    )

    with httpx.Client(base_url=f"http://127.0.0.1:{hub_port}", timeout=5) as client:
        login = client.post(
            "/api/v1/auth/login", json={"username": "ana", "password": "correct horse battery"}
        )
        assert login.status_code == 200, login.text
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"

        # Normal running raises nothing (the agent has had time for a few scans).
        _wait_for(lambda: "source press-plc up" in processes.log("agent"), timeout=20)
        time.sleep(1.5)
        assert _alarms(client) == []

        fault = floorgate(
            "sim", "fault", "overtemp", "--control", f"http://127.0.0.1:{control_port}"
        )
        assert fault.returncode == 0, fault.stderr
        injected = time.monotonic()
        raised = _wait_for(
            lambda: [a for a in _alarms(client) if a["rule"] == "press-temperature.hi"],
            timeout=30,
        )
        assert time.monotonic() - injected < 30
        (alarm,) = raised
        assert alarm["tag"] == "press.temperature"
        assert alarm["agent_id"] == "e2e-press"
        assert alarm["severity"] == "high"
        assert alarm["category"] == "equipment"
        assert alarm["state"] == "unack-active"
        assert 80.0 < alarm["value"] < 97.0

        # The hihi limit (90) follows as the press keeps heating toward 96 degC.
        hihi = _wait_for(
            lambda: [a for a in _alarms(client) if a["rule"] == "press-temperature.hihi"],
            timeout=30,
        )
        assert hihi[0]["severity"] == "critical"

        # Clearing the fault cools the press; each occurrence returns to normal.
        cleared = floorgate(
            "sim", "fault", "overtemp", "--clear", "--control", f"http://127.0.0.1:{control_port}"
        )
        assert cleared.returncode == 0, cleared.stderr
        returned = _wait_for(
            lambda: [
                a
                for a in _alarms(client)
                if a["rule"] == "press-temperature.hi" and a["state"] == "returned-unack"
            ],
            timeout=30,
        )
        assert returned[0]["id"] == alarm["id"]
        assert returned[0]["cleared_at"] is not None

    assert processes.stop("agent") == 0
    assert processes.stop("sim") == 0
    assert "agent stopped" in processes.log("agent")
