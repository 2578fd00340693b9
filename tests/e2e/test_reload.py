"""SIGHUP reloads the agent's config without touching its buffer; a bad config is refused."""

from __future__ import annotations

import signal
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Stack, wait_for

pytestmark = pytest.mark.e2e


def test_reload_applies_new_rules_and_keeps_the_buffer(stack: Stack) -> None:
    stack.start_hub()
    stack.start_sim()
    path = stack.agent_config(report={"values": True, "deadband": 0, "heartbeat": "1s"})
    agent = stack.processes.start("agent", "agent", "--config", str(path))
    wait_for(lambda: stack.buffer_path.exists() and stack.agent_buffer()[1] > 20, timeout=20)

    # A broken file is refused and the agent keeps running on the old one.
    good = path.read_text()
    path.write_text(good.replace("agent_id:", "agent_idd:"))
    agent.send_signal(signal.SIGHUP)
    wait_for(lambda: "config reload refused" in stack.processes.log("agent"), timeout=10)
    assert agent.poll() is None

    # Normal running (about 62 degC) is above this new limit: the alarm proves the new rules.
    config = yaml.safe_load(good)
    config["rules"] = [
        {"kind": "threshold", "name": "reloaded", "tag": "press.temperature", "hi": 50}
    ]
    path.write_text(yaml.safe_dump(config))
    before = stack.agent_buffer()[1]
    agent.send_signal(signal.SIGHUP)
    wait_for(lambda: "config reloaded" in stack.processes.log("agent"), timeout=10)

    with stack.client() as client:

        def alarm() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = client.get(
                "/api/v1/alarms", params={"severity": "high"}
            ).json()["items"]
            return [a for a in items if a["rule"] == "reloaded.hi"]

        wait_for(alarm, timeout=20)
        seqs = stack.hub_seqs(client)
    assert stack.agent_buffer()[1] > before  # the same outbox, numbering carried on
    assert sorted(seqs) == list(range(1, max(seqs) + 1))
