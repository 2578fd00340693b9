"""Real processes for end-to-end tests: each started with ``python -m floorgate``, each stopped
by its own PID at teardown, each logging to a file that is shown when a test fails."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import free_port


class Processes:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "floorgate", *args], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.started[name] = process
        return process

    def stop(self, name: str, timeout: float = 15) -> int:
        """SIGTERM, then wait; returns the exit code."""
        process = self.started.pop(name)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for name in list(self.started)[::-1]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.stop(name)


@pytest.fixture
def processes(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Processes]:
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Processes(logs)
    try:
        yield procs
    finally:
        procs.stop_all()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            for log in sorted(logs.iterdir()):
                print(f"----- {log.name} -----\n{log.read_text(errors='replace')[-4000:]}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"process for {url} exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not healthy within {timeout} s")


def floorgate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run one short floorgate command and return its result."""
    return subprocess.run(
        [sys.executable, "-m", "floorgate", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


ROOT = Path(__file__).resolve().parents[2]
ADMIN = ("admin", "admin password 1")


def wait_for(predicate: Any, timeout: float, interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout} s")


class Stack:
    """A hub and a simulated plant as processes, plus what an agent needs to join them."""

    def __init__(self, tmp_path: Path, processes: Processes, agent_id: str = "e2e-press") -> None:
        self.tmp_path = tmp_path
        self.processes = processes
        self.agent_id = agent_id
        self.db = tmp_path / "hub.duckdb"
        self.hub_port, self.modbus_port, self.control_port = free_port(), free_port(), free_port()
        self.panel_port = free_port()
        self.hub_url = f"http://127.0.0.1:{self.hub_port}"
        self.control_url = f"http://127.0.0.1:{self.control_port}"
        self.buffer_path = tmp_path / "agent-buffer.sqlite"
        added = floorgate(
            "user",
            "add",
            ADMIN[0],
            "--role",
            "admin",
            "--password-stdin",
            "--db",
            str(self.db),
            stdin=ADMIN[1] + "\n",
        )
        assert added.returncode == 0, added.stderr
        created = floorgate("token", "create", "--agent", agent_id, "--db", str(self.db))
        assert created.returncode == 0, created.stderr
        self.token_file = tmp_path / "agent.token"
        self.token_file.write_text(created.stdout)

    def start_hub(self) -> None:
        hub = self.processes.start("hub", "hub", "--db", str(self.db), "--port", str(self.hub_port))
        wait_until_healthy(f"{self.hub_url}/healthz", hub)

    def start_sim(self, *extra: str, opcua_port: int = 0) -> None:
        """The simulated plant; OPC UA only when asked (its server takes seconds to start)."""
        sim = self.processes.start(
            "sim",
            "sim",
            "--modbus-port",
            str(self.modbus_port),
            "--control-port",
            str(self.control_port),
            "--opcua-port",
            str(opcua_port),
            *extra,
        )
        wait_until_healthy(f"{self.control_url}/healthz", sim)

    def agent_config(self, **changes: Any) -> Path:
        """The example agent config pointed at this stack; ``changes`` update top-level keys."""
        config = yaml.safe_load((ROOT / "deploy" / "examples" / "agent.yaml").read_text())
        config["agent_id"] = self.agent_id
        config["hub"].update(url=self.hub_url, token_file=str(self.token_file))
        config["buffer"]["path"] = str(self.buffer_path)
        config["sources"][0].update(port=self.modbus_port, poll_interval="200ms")
        config["panel"] = {"port": self.panel_port}
        for key, value in changes.items():
            config[key] = value
        path = self.tmp_path / "agent.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    @contextlib.contextmanager
    def client(self) -> Iterator[httpx.Client]:
        """An HTTP client logged in to the hub as the admin."""
        with httpx.Client(base_url=self.hub_url, timeout=10) as client:
            login = client.post(
                "/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
            )
            assert login.status_code == 200, login.text
            client.headers["Authorization"] = f"Bearer {login.json()['token']}"
            yield client

    def hub_seqs(self, client: httpx.Client) -> list[int]:
        """Every seq of this agent stored at the hub, paging through GET /events."""
        seqs: list[int] = []
        params: dict[str, Any] = {"agent_id": self.agent_id, "limit": 1000}
        while True:
            page = client.get("/api/v1/events", params=params)
            page.raise_for_status()
            body = page.json()
            seqs.extend(item["seq"] for item in body["items"])
            if body["next"] is None:
                return seqs
            params["after"] = body["next"]

    def agent_buffer(self) -> tuple[int, int]:
        """(events still in the agent's outbox, last seq the agent ever assigned); (0, 0) while
        the agent has not created its buffer yet."""
        if not self.buffer_path.exists():
            return 0, 0
        # Read-only: never create the file or take part in its schema set-up.
        with contextlib.closing(
            sqlite3.connect(f"file:{self.buffer_path}?mode=ro", uri=True)
        ) as db:
            try:
                (depth,) = db.execute("SELECT count(*) FROM outbox").fetchone()
                row = db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return 0, 0  # the agent is creating its schema right now
                raise
        return int(depth), (int(row[0]) - 1 if row else 0)


@pytest.fixture
def stack(tmp_path: Path, processes: Processes) -> Stack:
    return Stack(tmp_path, processes)
