"""Alarm latency: a PLC value change -> a real agent -> the hub -> its SSE stream, under load.

Every part is a process of its own, on loopback:

* a PLC: a pymodbus server (the simulator's ``SimDevice`` datastore) whose BACKGROUND_TAGS
  registers all change every 20 ms, and whose alarm register the bench steps on request; the
  PLC process notes the moment of each step (CLOCK_MONOTONIC, which all processes share);
* a real agent (``floorgate agent``): the background tags polled every BACKGROUND_POLL and
  reported on change, that is BACKGROUND_TAGS / BACKGROUND_POLL value events/s (1,000), and the
  alarm tag polled every ALARM_POLL under a threshold rule with no delay;
* a real hub (``floorgate hub``) on a DuckDB file;
* this process, reading ``GET /api/v1/alarms/stream`` as a logged-in user.

Each of STEPS steps moves the alarm register across its limit (raise, then clear, ...) at a
random moment, waits for the ``raised`` / ``returned`` change on the stream and takes the time
from the register write to the arrival of that SSE event. The latency includes up to one
ALARM_POLL of the agent's polling, the agent's durable buffer (an fsync per scan) and the
ingest commit at the hub. Bounded by STEPS, by STEP_TIMEOUT per step and TIME_LIMIT overall;
every process is stopped by its own handle at the end.

    .venv/bin/python bench/bench_latency.py
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import yaml

from hub import admin

STEPS = 100
STEP_GAP = (0.15, 0.35)
"""Seconds between a step's SSE event and the next step, drawn at random (random poll phase)."""
STEP_TIMEOUT = 5.0
TIME_LIMIT = 120.0
BACKGROUND_TAGS = 100
BACKGROUND_POLL = 0.1
ALARM_POLL = 0.01
PLC_TICK = 0.02
"""The background registers change this often (faster than they are polled)."""
ALARM_REGISTER, HIGH, LOW, LIMIT = 120, 1000, 0, 500
TARGET_P99 = 0.100
USER = ("bench", "bench password 1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the PLC process ---------------------------------------------------------------------------


def plc(port: int, steps: Connection, ready: Any) -> None:
    asyncio.run(_plc(port, steps, ready))


async def _plc(port: int, steps: Connection, ready: Any) -> None:
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    write_registers = 16  # the function code async_setValues stores with
    device = SimDevice(
        id=1, simdata=[SimData(address=0, count=128, values=0, datatype=DataType.REGISTERS)]
    )
    server = ModbusTcpServer([device], address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    loop = asyncio.get_running_loop()

    async def step(value: int) -> tuple[float, float]:
        await server.context.async_setValues(1, write_registers, ALARM_REGISTER, [value])
        return time.monotonic(), time.time()

    def serve_steps() -> None:
        # Blocking reads of the pipe on a thread; each step runs on the server's loop.
        while True:
            try:
                value = steps.recv()
            except EOFError:
                return
            steps.send(asyncio.run_coroutine_threadsafe(step(value), loop).result())

    threading.Thread(target=serve_steps, daemon=True).start()
    ready.set()
    tick = 0
    while True:  # until the parent terminates this process
        tick += 1
        values = [(tick + i) % 60_000 for i in range(BACKGROUND_TAGS)]
        await server.context.async_setValues(1, write_registers, 0, values)
        await asyncio.sleep(PLC_TICK)


# --- hub and agent -----------------------------------------------------------------------------


@contextmanager
def floorgate(name: str, logs: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m floorgate ARGS`` with its output in ``logs/NAME.log``; SIGTERM at the end."""
    with (logs / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "floorgate", *args], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} not healthy within {timeout} s")


def agent_config(folder: Path, hub_url: str, token_file: Path, plc_port: int) -> Path:
    def source(name: str, poll: float, tags: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "kind": "modbus_tcp",
            "name": name,
            "host": "127.0.0.1",
            "port": plc_port,
            "poll_interval": poll,
            "timeout": 2,
            "tags": tags,
        }

    background = [{"name": f"line.t{i}", "address": i} for i in range(BACKGROUND_TAGS)]
    config = {
        "agent_id": "latency",
        "site": "plant1",
        "area": "press",
        "line": "L1",
        "hub": {"url": hub_url, "token_file": str(token_file), "batch_max": 1000},
        "buffer": {"path": str(folder / "agent-buffer.sqlite")},
        "sources": [
            source("background", BACKGROUND_POLL, background),
            source("guard", ALARM_POLL, [{"name": "press.level", "address": ALARM_REGISTER}]),
        ],
        "rules": [{"kind": "threshold", "name": "level", "tag": "press.level", "hi": LIMIT}],
        "panel": {"enabled": False},
    }
    path = folder / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


# --- the SSE reader ----------------------------------------------------------------------------


class AlarmStream:
    """Reads the hub's alarm stream on a thread, noting when each change arrives."""

    def __init__(self, url: str, token: str) -> None:
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"}
        self.ready = threading.Event()
        self.changes: list[tuple[float, float, str]] = []
        """(CLOCK_MONOTONIC and wall clock at arrival, transition)."""
        self.arrived = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self.ready.wait(10):
            raise SystemExit("the alarm stream did not open")

    def stop(self) -> None:
        self._stop = True  # the next heartbeat (every few seconds) ends the read
        self._thread.join(0)

    def _read(self) -> None:
        try:
            self._read_stream()
        except httpx.HTTPError:
            if not self._stop:  # the hub going away at the end is expected
                raise

    def _read_stream(self) -> None:
        timeout = httpx.Timeout(10, read=30)
        with (
            httpx.Client(timeout=timeout, headers=self._headers) as client,
            client.stream("GET", self._url) as response,
        ):
            response.raise_for_status()
            event = None
            for line in response.iter_lines():
                if self._stop:
                    return
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                    if event == "ready":
                        self.ready.set()
                elif line.startswith("data: ") and event == "alarm":
                    at, wall = time.monotonic(), time.time()
                    transition = json.loads(line.removeprefix("data: "))["transition"]
                    with self.arrived:
                        self.changes.append((at, wall, transition))
                        self.arrived.notify_all()

    def wait_for(self, count: int, timeout: float) -> tuple[float, float, str] | None:
        """The ``count``-th change (1-based), once it has arrived."""
        with self.arrived:
            if self.arrived.wait_for(lambda: len(self.changes) >= count, timeout):
                return self.changes[count - 1]
        return None


# --- the run -----------------------------------------------------------------------------------


def ingested(url: str) -> int:
    """Events the hub has accepted so far (its Prometheus counter)."""
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith('floorgate_ingest_events_total{result="accepted"}'):
            return int(float(line.split()[-1]))
    return 0


def main() -> int:
    deadline = time.monotonic() + TIME_LIMIT
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = Path(tmp)
        db = folder / "hub.duckdb"
        admin.add_user(db, USER[0], "admin", USER[1], sites=[], areas=[])
        token_file = folder / "agent.token"
        token_file.write_text(admin.create_agent_token(db, "latency"))
        hub_port, plc_port = free_port(), free_port()
        hub_url = f"http://127.0.0.1:{hub_port}"

        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        ready = context.Event()
        plc_process = context.Process(target=plc, args=(plc_port, theirs, ready), daemon=True)
        plc_process.start()
        stack.callback(plc_process.join, 10)
        stack.callback(plc_process.terminate)
        if not ready.wait(30):
            raise SystemExit("the PLC did not start")

        hub = stack.enter_context(floorgate("hub", folder, "hub", "--db", str(db), "--port",
                                            str(hub_port)))  # fmt: skip
        wait_healthy(f"{hub_url}/healthz", hub)
        login = httpx.post(
            f"{hub_url}/api/v1/auth/login", json={"username": USER[0], "password": USER[1]}
        )
        login.raise_for_status()
        stream = AlarmStream(f"{hub_url}/api/v1/alarms/stream", login.json()["token"])
        stream.start()
        stack.callback(stream.stop)

        config = agent_config(folder, hub_url, token_file, plc_port)
        agent = stack.enter_context(floorgate("agent", folder, "agent", "--config", str(config)))
        # Warm: the agent is forwarding values once the hub has taken some.
        while ingested(hub_url) < BACKGROUND_TAGS:
            if agent.poll() is not None or time.monotonic() > deadline:
                print((folder / "agent.log").read_text()[-3000:], file=sys.stderr)
                raise SystemExit("the agent is not forwarding values")
            time.sleep(0.2)

        latencies: dict[str, list[float]] = {"raised": [], "returned": []}
        walls: list[tuple[float, float]] = []  # (register written, SSE arrived), wall clock
        missed = 0
        started, before = time.monotonic(), ingested(hub_url)
        for index in range(STEPS):
            if time.monotonic() > deadline:
                break
            time.sleep(random.uniform(*STEP_GAP))
            expected = "raised" if index % 2 == 0 else "returned"
            ours.send(HIGH if expected == "raised" else LOW)
            written, written_wall = ours.recv()
            change = stream.wait_for(index + 1, STEP_TIMEOUT)
            if change is None or change[2] != expected:
                missed += 1
                break
            latencies[expected].append(change[0] - written)
            walls.append((written_wall, change[1]))
        elapsed = time.monotonic() - started
        load = (ingested(hub_url) - before) / elapsed
        segments = where_the_time_goes(hub_url, login.json()["token"], walls)
        errors = [line for line in (folder / "hub.log").read_text().splitlines() if "ERROR" in line]

    every = sorted(latencies["raised"] + latencies["returned"])
    if not every:
        print("no alarm change arrived", file=sys.stderr)
        return 1
    p50, p99 = _quantile(every, 0.50), _quantile(every, 0.99)
    print(
        f"PLC register change -> agent (Modbus poll {ALARM_POLL * 1000:g} ms) -> hub -> SSE, "
        f"all on loopback, {len(every)} changes, background load {load:,.0f} value events/s"
    )
    for transition, values in latencies.items():
        if values:
            print(
                f"  {transition:8s}: p50 {statistics.median(values) * 1000:6.1f} ms, "
                f"max {max(values) * 1000:6.1f} ms ({len(values)} changes)"
            )
    print(
        f"all     : p50 {p50 * 1000:6.1f} ms, p99 {p99 * 1000:6.1f} ms "
        f"(target p99 <= {TARGET_P99 * 1000:g} ms: {'met' if p99 <= TARGET_P99 else 'not met'})"
    )
    if segments:
        print("where the time goes (medians, wall clocks of the processes):")
        for name, seconds in segments.items():
            print(f"  {name:48s}: {seconds * 1000:6.1f} ms")
    if missed or errors:
        print(f"FAIL: {missed} change(s) not seen on the stream; hub errors: {errors[:3]}",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def where_the_time_goes(url: str, token: str, walls: list[tuple[float, float]]) -> dict[str, float]:
    """Medians of the legs of each change, from the times the hub stored with the alarm events:
    the agent's reading (source_time) and the hub's receipt (received_at)."""
    stored: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {token}"}
    for kind in ("alarm.raised", "alarm.cleared"):
        reply = httpx.get(f"{url}/api/v1/events", params={"type": kind, "limit": 1000},
                          headers=headers, timeout=10)  # fmt: skip
        reply.raise_for_status()
        stored += reply.json()["items"]
    stored.sort(key=lambda item: item["seq"])
    if len(stored) != len(walls):
        return {}
    legs: dict[str, list[float]] = {
        "register written -> agent read it (poll phase)": [],
        "agent read it -> hub received the batch": [],
        "hub received the batch -> SSE event arrived": [],
    }
    for item, (written, arrived) in zip(stored, walls, strict=True):
        read = _epoch(item["source_time"])
        received = _epoch(item["received_at"])
        for name, seconds in zip(legs, (read - written, received - read, arrived - received),
                                 strict=True):  # fmt: skip
            legs[name].append(seconds)
    return {name: statistics.median(values) for name, values in legs.items()}


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of a sorted list."""
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


if __name__ == "__main__":
    sys.exit(main())
