"""The same first path over MQTT: sim -> mosquitto -> agent (JSON and Sparkplug B) -> hub."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import Stack, floorgate, wait_for
from tests.protocols.mosquitto import Mosquitto

pytestmark = pytest.mark.e2e


def test_overtemperature_over_mqtt_json_and_sparkplug_reaches_the_hub(
    stack: Stack, tmp_path: Path
) -> None:
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    broker = Mosquitto(broker_dir)
    broker.start()
    try:
        stack.start_hub()
        stack.start_sim("--mqtt", f"127.0.0.1:{broker.port}")
        config = yaml.safe_load(stack.agent_config().read_text())
        config["sources"] = [
            {
                "kind": "mqtt",
                "name": "broker",
                "host": "127.0.0.1",
                "port": broker.port,
                "client_id": "e2e-agent",
                "subscriptions": [
                    {
                        "topic": "floorgate/sim/press",
                        "payload": {
                            "format": "json",
                            "tags": [
                                {"name": "press.temperature", "path": "$.temperature"},
                                {"name": "press.pressure", "path": "$.pressure"},
                            ],
                        },
                    },
                    {
                        "payload": {
                            "format": "sparkplug",
                            "group": "plant",
                            "edge_node": "sim",
                            "metrics": [
                                {"name": "silo/level", "tag": "silo.level"},
                                {"name": "press/temperature", "tag": "sp.temperature"},
                            ],
                        }
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
            },
            {
                "kind": "threshold",
                "name": "sp-temperature",
                "tag": "sp.temperature",
                "hi": 80,
                "severity": "medium",
                "on_delay": "1s",
            },
        ]
        path = tmp_path / "agent-mqtt.yaml"
        path.write_text(yaml.safe_dump(config))
        assert floorgate("check-config", str(path)).returncode == 0
        stack.processes.start("agent", "agent", "--config", str(path))

        with stack.client() as client:
            wait_for(lambda: "source broker up" in stack.processes.log("agent"), timeout=20)
            fault = floorgate("sim", "fault", "overtemp", "--control", stack.control_url)
            assert fault.returncode == 0, fault.stderr

            def alarms() -> list[dict]:
                items = client.get("/api/v1/alarms").json()["items"]
                return (
                    items
                    if {a["rule"] for a in items} >= {"press-temperature.hi", "sp-temperature.hi"}
                    else []
                )

            found = {a["rule"]: a for a in wait_for(alarms, timeout=30)}
            assert found["press-temperature.hi"]["tag"] == "press.temperature"
            assert found["sp-temperature.hi"]["severity"] == "medium"
            assert found["sp-temperature.hi"]["value"] > 80
            # Values arrive too: the silo level from Sparkplug is in the event history.
            silo = client.get(
                "/api/v1/events", params={"agent_id": stack.agent_id, "tag": "silo.level"}
            ).json()
            assert silo["items"], "no silo.level value events"
    finally:
        stack.processes.stop_all()
        broker.stop()
