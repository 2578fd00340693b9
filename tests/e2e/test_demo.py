"""``floorgate demo --duration S``: the whole demo as a user runs it, ending by itself."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.e2e


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_demo_raises_an_alarm_at_the_hub_and_stops_cleanly(tmp_path: Path) -> None:
    ports = {
        "--hub-port": free_port(),
        "--modbus-port": free_port(),
        "--control-port": free_port(),
        "--panel-port": free_port(),
        "--opcua-port": free_port(),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "floorgate",
            "demo",
            "--duration",
            "30",
            "--data",
            str(tmp_path / "demo"),
            *[str(item) for pair in ports.items() for item in pair],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert f"http://127.0.0.1:{ports['--hub-port']}/docs" in out
    assert re.search(r"^    user admin password \S{8,}$", out, re.MULTILINE)
    assert re.search(r"^    user maint password \S{8,} pin \d{6}$", out, re.MULTILINE)
    assert re.search(r"^    user panel-press password \S{8,}$", out, re.MULTILINE)
    assert f"http://127.0.0.1:{ports['--hub-port']}/hmi" in out
    found = re.search(r"alarm at the hub after ([\d.]+) s: press\.temperature = ([\d.]+)", out)
    assert found, out
    assert float(found.group(1)) < 30
    assert float(found.group(2)) > 80
    # The shipped scenarios start: the plan is in, and the press stopping during it starts the
    # machine-down playbook at the hub.
    assert "uploaded the plan of shift A" in out
    assert "injected fault 'machine_down'" in out
    assert re.search(r"playbook 'machine-down' started run \d+", out), out
    # Every process the demo started is gone, and its data stayed under --data.
    assert not any(_listening(port) for port in ports.values())
    assert (tmp_path / "demo" / "hub.duckdb").exists()
    assert (tmp_path / "demo" / "agent-buffer.sqlite").exists()
