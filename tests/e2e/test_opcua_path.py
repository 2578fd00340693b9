"""The first path over OPC UA: sim (asyncua server) -> agent subscription -> hub; and the
commands an engineer uses to write such a config: ``floorgate browse`` and ``cert create``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port
from tests.e2e.conftest import Stack, floorgate, wait_for

pytestmark = pytest.mark.e2e


def test_overtemperature_over_opcua_reaches_the_hub(stack: Stack, tmp_path: Path) -> None:
    opcua_port = free_port()
    endpoint = f"opc.tcp://127.0.0.1:{opcua_port}"
    stack.start_hub()
    stack.start_sim(opcua_port=opcua_port)

    browsed = floorgate("browse", endpoint, "--depth", "3")
    assert browsed.returncode == 0, browsed.stderr
    row = next(line for line in browsed.stdout.splitlines() if "press.temperature" in line)
    assert row.split()[:3] == [
        "ns=2;s=press.temperature",
        "/Objects/2:Press/2:temperature",
        "Double",
    ]

    config = yaml.safe_load(stack.agent_config().read_text())
    config["sources"] = [
        {
            "kind": "opcua",
            "name": "press-opcua",
            "endpoint": endpoint,
            "groups": [
                {
                    "mode": "subscribe",
                    "interval": "200ms",
                    "tags": [{"name": "press.temperature", "node": "ns=2;s=press.temperature"}],
                },
                {
                    "mode": "poll",
                    "interval": "500ms",
                    "tags": [{"name": "pack.lot", "node": "/Objects/2:Packaging/2:lot"}],
                },
            ],
        }
    ]
    config["rules"] = [
        {
            "kind": "threshold",
            "name": "press-temperature",
            "tag": "press.temperature",
            "hi": 80,
            "on_delay": "1s",
        }
    ]
    path = tmp_path / "agent-opcua.yaml"
    path.write_text(yaml.safe_dump(config))
    assert floorgate("check-config", str(path)).returncode == 0
    stack.processes.start("agent", "agent", "--config", str(path))

    with stack.client() as client:
        wait_for(lambda: "source press-opcua up" in stack.processes.log("agent"), timeout=30)
        assert floorgate("sim", "fault", "overtemp", "--control", stack.control_url).returncode == 0

        def alarm() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = client.get("/api/v1/alarms").json()["items"]
            return items

        (raised,) = wait_for(alarm, timeout=30)
        assert (raised["tag"], raised["rule"]) == ("press.temperature", "press-temperature.hi")
        assert raised["value"] > 80
        lots = client.get("/api/v1/values", params={"tag": "pack.lot"}).json()["items"]
        assert lots and lots[0]["value"] == "LOT-0001"


def test_cert_create_writes_a_certificate_and_a_private_key(tmp_path: Path) -> None:
    cert, key = tmp_path / "agent.der", tmp_path / "agent.key"
    made = floorgate(
        "cert",
        "create",
        "--cert",
        str(cert),
        "--key",
        str(key),
        "--uri",
        "urn:floorgate:agent:test",
    )
    assert made.returncode == 0, made.stderr
    assert cert.stat().st_size > 500
    assert key.read_text().startswith("-----BEGIN")
    assert key.stat().st_mode & 0o777 == 0o600
    again = floorgate("cert", "create", "--cert", str(cert), "--key", str(key))
    assert again.returncode == 1  # never overwrites a key by accident
