"""What the agent process imports: no web framework or hub module, and a protocol library only
once a source of that kind is opened (checked in fresh interpreters)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic_settings",
    "duckdb",
    "prometheus_client",
    "click",  # with rich and pygments: httpx's command line client, see edge_agent/__init__.py
    "rich",
)
PROTOCOL_LIBRARIES = ("asyncua", "paho", "pymodbus", "cryptography", "google")


def _loaded_after(code: str) -> set[str]:
    """The top-level packages loaded after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return {name.split(".")[0] for name in json.loads(done.stdout)}


def test_the_agent_imports_no_web_framework_no_hub_and_no_protocol_library() -> None:
    loaded = _loaded_after("import floorgate.cli, edge_agent.app, edge_agent.config")
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)
    assert loaded.isdisjoint(PROTOCOL_LIBRARIES), loaded & set(PROTOCOL_LIBRARIES)
    assert "hub" not in loaded


def test_the_cli_lists_the_hubs_roles() -> None:
    from floorgate.cli import USER_ROLES
    from hub.auth.schemas import Role

    assert tuple(role.value for role in Role) == USER_ROLES


def test_a_protocol_library_is_imported_when_its_source_is_opened() -> None:
    code = """
from edge_agent.app import open_source
from edge_agent.config import AgentConfig
config = AgentConfig.model_validate({
    "agent_id": "a", "hub": {"url": "http://127.0.0.1:9"},
    "sources": [{"kind": "modbus_tcp", "name": "plc", "host": "127.0.0.1",
                 "tags": [{"name": "t", "address": 0}]}],
})
open_source(config.sources[0])
"""
    loaded = _loaded_after(code)
    assert "pymodbus" in loaded
    assert loaded.isdisjoint({"asyncua", "paho", "cryptography", *HEAVY})


def test_protobuf_waits_for_a_sparkplug_payload() -> None:
    code = """
from edge_agent.app import open_source
from edge_agent.config import AgentConfig
config = AgentConfig.model_validate({
    "agent_id": "a", "hub": {"url": "http://127.0.0.1:9"},
    "sources": [{"kind": "mqtt", "name": "broker", "host": "127.0.0.1", "client_id": "a",
                 "subscriptions": [{"topic": "line1/#",
                                    "payload": {"format": "plain", "tag_prefix": "line1/"}}]}],
})
open_source(config.sources[0])
"""
    loaded = _loaded_after(code)
    assert "paho" in loaded
    assert "google" not in loaded  # protobuf: Sparkplug B only
    assert "google" in _loaded_after(
        "from protocols.sparkplug import Payload, encode_payload; encode_payload(Payload())"
    )
