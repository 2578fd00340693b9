"""``floorgate demo``: hub, simulated plant and one agent as real processes, then real faults.

Everything runs on loopback with embedded storage under one data folder. The demo prints the
URLs and logins, uploads a plan for the current shift, injects an overtemperature at the press
and reports when the alarm is at the hub; then it injects the faults of the four shipped
scenarios one by one and reports each playbook run the hub starts, so the approvals inbox, the
planner board and the audit trail have real work in them.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

HOST = "127.0.0.1"
AGENT_ID = "demo-press"
SITE = "demo-plant"
LINE = "line-1"
DEMO_USERS = (
    ("admin", "admin", "Ada Admin"),
    ("maint", "maintenance", "Max Maintenance"),
    ("quality", "quality", "Quinn Quality"),
    ("planner", "planner", "Pat Planner"),
    ("super", "supervisor", "Sam Supervisor"),
    ("panel-press", "panel", "Press shop panel"),
)
"""(username, role, full name); the panel device is scoped to the press shop, and the
technicians get a PIN to identify with at it."""
PANEL_AREA = "press-shop"
FAULT = "overtemp"
FAULT_AFTER_SECONDS = 2.0
SCENARIO_FAULTS = (
    (8.0, "machine_down", "the press stops during planned production"),
    (20.0, "rate_drop", "packaging falls behind the plan"),
    (30.0, "silo_low", "the silo runs down before the planned end"),
    (40.0, "drift", "oven zone 2 starts drifting slowly"),
)
"""(seconds after the first fault, fault, what it means) for the shipped scenarios."""
PLANNED_RATE_PER_HOUR = 2000.0
"""Packaging's planned rate; the simulated line packs 2,400/h, 1,200/h with ``rate_drop``."""
OVERTIME_REGISTER = 40
"""A holding register the simulator leaves as written: the line controller's overtime setpoint."""
PLAYBOOKS = Path(__file__).resolve().parents[1] / "deploy" / "examples" / "playbooks"
_OWN_FILES = (
    "hub.yaml",
    "hub.duckdb",
    "hub.duckdb.wal",
    "agent.yaml",
    "agent.token",
    "agent-buffer.sqlite",
    "agent-buffer.sqlite-wal",
    "agent-buffer.sqlite-shm",
)


@dataclass(frozen=True)
class DemoSettings:
    data: Path
    duration: float | None = None
    hub_port: int = 8400
    modbus_port: int = 5020
    control_port: int = 8401
    panel_port: int = 8410
    opcua_port: int = 4840


def demo_agent_config(settings: DemoSettings, token_file: Path) -> dict[str, Any]:
    """The demo agent: every register of the simulated press line, with a few alarm rules."""
    from protocols.sim.modbus_server import REGISTER_MAP, UNIT

    tags = []
    for point in REGISTER_MAP:
        if point.tag.startswith("oven."):
            continue  # the oven is read over OPC UA below
        tag: dict[str, Any] = {"name": point.tag, "address": point.address, "type": str(point.type)}
        if point.length is not None:
            tag["length"] = point.length
        tags.append(tag)
    # Written only when an overtime approval is signed (scenario 4), then read back.
    tags.append(
        {
            "name": "pack.overtime_minutes",
            "address": OVERTIME_REGISTER,
            "type": "uint16",
            "writable": True,
        }
    )
    return {
        "agent_id": AGENT_ID,
        "site": SITE,
        "area": "press-shop",
        "line": LINE,
        "hub": {"url": f"http://{HOST}:{settings.hub_port}", "token_file": str(token_file)},
        "buffer": {"path": str(settings.data.resolve() / "agent-buffer.sqlite")},
        "panel": {"host": HOST, "port": settings.panel_port},
        "sources": [
            {
                "kind": "modbus_tcp",
                "name": "press-plc",
                "host": HOST,
                "port": settings.modbus_port,
                "unit": UNIT,
                "poll_interval": "500ms",
                "max_gap": 4,
                "tags": tags,
            },
            {
                "kind": "opcua",
                "name": "oven-plc",
                "endpoint": f"opc.tcp://{HOST}:{settings.opcua_port}",
                "groups": [
                    {
                        "mode": "subscribe",
                        "interval": "500ms",
                        "tags": [
                            {"name": f"oven.zone{n}", "node": f"ns=2;s=oven.zone{n}"}
                            for n in (1, 2, 3)
                        ],
                    }
                ],
            },
        ],
        "rules": [
            {
                "kind": "threshold",
                "name": "press-temperature",
                "tag": "press.temperature",
                "hi": 80,
                "hihi": 90,
                "deadband": 2,
                "on_delay": "2s",
                "category": "equipment",
            },
            {
                "kind": "threshold",
                "name": "press-pressure",
                "tag": "press.pressure",
                "lo": 100,
                "on_delay": "3s",
                "category": "equipment",
            },
            {  # scenario 1: planned to run, but stopped (press-output.stopped)
                "kind": "plan_deviation",
                "name": "press-output",
                "tag": "press.cycle_count",
                "line": LINE,
                "window": "1h",
                "state_tag": "press.state",
                "stopped_states": [2],
                "min_duration": "2s",
            },
            {  # scenario 2: slow drift no threshold sees (oven-zone2.high)
                "kind": "drift",
                "name": "oven-zone2",
                "tag": "oven.zone2",
                "method": "cusum",
                "target": 200,
                "sigma": 0.5,
            },
            {  # scenario 4: more than 25% behind the planned rate (pack-output.behind)
                "kind": "plan_deviation",
                "name": "pack-output",
                "tag": "pack.count",
                "line": LINE,
                "window": "1min",
                "behind_percent": 25,
            },
            {  # a held lot still running on the line
                "kind": "lot_on_hold",
                "name": "pack-lot-hold",
                "tag": "pack.lot",
            },
            {  # scenario 3: the silo running out (silo-level.lo)
                "kind": "threshold",
                "name": "silo-level",
                "tag": "silo.level",
                "lo": 15,
                "lolo": 5,
                "deadband": 1,
                "category": "supply",
            },
        ],
    }


@dataclass
class _Outcome:
    alarm_after: float | None = None
    """Seconds from the fault to its alarm at the hub; None until it is there."""


class _Processes:
    """The demo's child processes; stopped in reverse order, each by its own PID."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str) -> None:
        command = [sys.executable, "-m", "floorgate", *args]
        self.children.append((name, subprocess.Popen(command)))

    def exited(self) -> list[str]:
        return [name for name, process in self.children if process.poll() is not None]

    def stop(self) -> None:
        for _, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in reversed(self.children):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop within 10 s; killing it", file=sys.stderr)
                process.kill()
                process.wait()


def _wait_healthy(url: str, processes: _Processes, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dead := processes.exited():
            raise RuntimeError(f"{', '.join(dead)} exited during start-up")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _prepare(settings: DemoSettings) -> tuple[Path, Path, dict[str, str]]:
    """Fresh demo files, users and an agent token; returns the two configs and the logins."""
    from hub.admin import add_user, create_agent_token, set_pin
    from hub.governance.admin import set_full_name

    data = settings.data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    for name in _OWN_FILES:
        (data / name).unlink(missing_ok=True)

    db = data / "hub.duckdb"
    logins = {}
    for username, role, full_name in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        areas = [PANEL_AREA] if username.startswith("panel-") else []
        add_user(db, username, role, password, sites=[], areas=areas)
        if role in ("maintenance", "supervisor"):
            pin = f"{secrets.randbelow(10**6):06d}"
            set_pin(db, username, pin)
            password = f"{password} pin {pin}"
        set_full_name(db, username, full_name)
        logins[username] = password
    token_file = data / "agent.token"
    token_file.touch(mode=0o600)
    token_file.write_text(create_agent_token(db, AGENT_ID) + "\n")

    hub: dict[str, Any] = {
        "listen": {"host": HOST, "port": settings.hub_port},
        "storage": {"path": str(db)},
    }
    # The press line's good count, for plan against actual on the planner board.
    hub["planner"] = {"lines": [{"site": SITE, "line": LINE, "counter_tag": "pack.count"}]}
    if PLAYBOOKS.is_dir():  # a checkout: the shipped scenarios run in the demo too
        hub["playbooks"] = {"path": str(PLAYBOOKS)}
    hub_config = data / "hub.yaml"
    hub_config.write_text(yaml.safe_dump(hub))
    agent_config = data / "agent.yaml"
    agent_config.write_text(
        yaml.safe_dump(demo_agent_config(settings, token_file), sort_keys=False)
    )
    return hub_config, agent_config, logins


def run_demo(settings: DemoSettings) -> int:
    """Returns 0 once the fault's alarm has reached the hub and the demo has ended cleanly."""
    hub_config, agent_config, logins = _prepare(settings)
    hub_url = f"http://{HOST}:{settings.hub_port}"
    control_url = f"http://{HOST}:{settings.control_port}"
    processes = _Processes()
    outcome = _Outcome()
    try:
        processes.start("hub", "hub", "--config", str(hub_config))
        processes.start(
            "sim",
            "sim",
            "--host",
            HOST,
            "--modbus-port",
            str(settings.modbus_port),
            "--control-port",
            str(settings.control_port),
            "--opcua-port",
            str(settings.opcua_port),
        )
        _wait_healthy(f"{hub_url}/healthz", processes)
        _wait_healthy(f"{control_url}/healthz", processes)
        processes.start("agent", "agent", "--config", str(agent_config))
        _banner(hub_url, control_url, logins, settings)
        _watch(hub_url, control_url, logins, processes, settings.duration, outcome)
    except KeyboardInterrupt:
        print("\nstopping the demo")
    except RuntimeError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
    finally:
        processes.stop()
    if outcome.alarm_after is None:
        print("the alarm did not reach the hub", file=sys.stderr)
        return 1
    return 0


def _banner(hub_url: str, control_url: str, logins: dict[str, str], s: DemoSettings) -> None:
    lines = [
        "",
        "Floorgate demo is running (Ctrl-C stops it).",
        f"  HMI alarm panel   {hub_url}/hmi  (log in as panel-press; acknowledge with a PIN)",
        f"  approvals inbox   {hub_url}/approvals",
        f"  planner board     {hub_url}/planner",
        f"  audit trail       {hub_url}/audit",
        f"  hub API docs      {hub_url}/docs",
        f"  alarms (API)      {hub_url}/api/v1/alarms",
        f"  agent panel       http://{HOST}:{s.panel_port}/alarms  (and /metrics)",
        f"  simulated plant   {control_url}/state  (modbus tcp {HOST}:{s.modbus_port})",
        f"  data folder       {s.data.resolve()}",
        "  logins:",
        *(f"    user {name} password {password}" for name, password in logins.items()),
        "",
    ]
    print("\n".join(lines), flush=True)


def _shift_plan(now: datetime) -> dict[str, Any]:
    """Shift A on the demo line: started an hour ago, ends in 20 minutes (so a press that is
    down now is expected back only after the shift: scenario 1 asks for a reschedule)."""
    entry = {
        "site": SITE,
        "line": LINE,
        "product": "P-100",
        "lot": "LOT-0001",
        "planned_rate_per_hour": PLANNED_RATE_PER_HOUR,
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(minutes=20)).isoformat(),
        "shift": "A",
    }
    return {"entries": [entry], "source": "floorgate demo"}


def _watch(
    hub_url: str,
    control_url: str,
    logins: dict[str, str],
    processes: _Processes,
    duration: float | None,
    outcome: _Outcome,
) -> None:
    """Upload the plan, inject the faults, report the first alarm and each playbook run at the
    hub, keep running until the end."""
    started = time.monotonic()
    deadline = None if duration is None else started + duration
    with httpx.Client(base_url=hub_url, timeout=5) as hub:
        login = hub.post(
            "/api/v1/auth/login", json={"username": "admin", "password": logins["admin"]}
        )
        login.raise_for_status()
        hub.headers["Authorization"] = f"Bearer {login.json()['token']}"
        planner = hub.post(
            "/api/v1/auth/login", json={"username": "planner", "password": logins["planner"]}
        )
        planner.raise_for_status()
        hub.post(
            "/api/v1/plans",
            json=_shift_plan(datetime.now(UTC)),
            headers={"Authorization": f"Bearer {planner.json()['token']}"},
        ).raise_for_status()
        print("uploaded the plan of shift A for line-1 (ends in 20 minutes)", flush=True)
        time.sleep(FAULT_AFTER_SECONDS)
        httpx.post(f"{control_url}/faults/{FAULT}", timeout=5).raise_for_status()
        injected = time.monotonic()
        print(
            f"injected fault '{FAULT}' at the press; waiting for the alarm at the hub", flush=True
        )
        pending = list(SCENARIO_FAULTS)
        runs_seen: set[int] = set()
        while deadline is None or time.monotonic() < deadline:
            if dead := processes.exited():
                raise RuntimeError(f"{', '.join(dead)} exited unexpectedly")
            if outcome.alarm_after is None:
                items = hub.get("/api/v1/alarms").json()["items"]
                if items:
                    outcome.alarm_after = time.monotonic() - injected
                    for item in items:
                        print(
                            f"alarm at the hub after {outcome.alarm_after:.1f} s: {item['tag']} = "
                            f"{item['value']} ({item['severity']}, rule {item['rule']})",
                            flush=True,
                        )
            while pending and time.monotonic() - injected >= pending[0][0]:
                _, fault, meaning = pending.pop(0)
                httpx.post(f"{control_url}/faults/{fault}", timeout=5).raise_for_status()
                print(f"injected fault '{fault}': {meaning}", flush=True)
            for run in hub.get("/api/v1/runs").json()["items"]:
                if run["id"] not in runs_seen:
                    runs_seen.add(run["id"])
                    print(
                        f"playbook '{run['playbook_id']}' started run {run['id']} "
                        f"(see {hub_url}/approvals)",
                        flush=True,
                    )
            time.sleep(0.5)
