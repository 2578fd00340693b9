"""Agent memory: RSS of a real ``floorgate agent`` with 1,000 tags over all three protocols,
beside a bare python importing the same libraries.

The plant runs in a child process (a pymodbus server with 334 registers, an asyncua server
with 333 variables written every second, a paho publisher sending 333 values as 9 JSON
documents every second to a mosquitto broker), a real hub in another (``floorgate hub``). The
agent reads all 1,000 tags once a second, with a threshold rule on each (1,000 rules), and
forwards to the hub. Once every source is up and events reach the hub, its RSS is sampled every
second for SAMPLE_S seconds, from the agent's first memory trim on (``edge_agent.memory``,
SETTLE_SECONDS after start); the last sample and the peak (VmHWM) are printed.

Beside it, in fresh interpreters, each trimmed as the agent trims itself: a bare python; a
python importing the third-party libraries the agent's modules load (the ceiling: what those
libraries cost before we hold any state); one importing the agent's modules; and what each of
those adds on import, in the order the agent pulls them in.

    .venv/bin/python bench/bench_rss.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml
from bench_mqtt import free_port, start_broker

from edge_agent.memory import SETTLE_SECONDS

ROOT = Path(__file__).resolve().parents[1]
MODBUS_TAGS, OPCUA_TAGS, MQTT_TAGS = 334, 333, 333
MQTT_DOCS = 9
SAMPLE_S = 10
READY_LIMIT_S = 60.0
TARGET_MB = 80.0
AGENT_MODULES = (
    "floorgate.cli",
    "edge_agent.app",
    "protocols.modbus",
    "protocols.mqtt",
    "protocols.opcua",
)
"""What ``floorgate agent`` imports for this config (adapters are imported on use)."""


# --- the plant (child process) ---------------------------------------------------------------


def serve_plant(modbus_port: int, opcua_port: int, mqtt_port: int, ready: Any) -> None:
    asyncio.run(_serve_plant(modbus_port, opcua_port, mqtt_port, ready))


async def _serve_plant(modbus_port: int, opcua_port: int, mqtt_port: int, ready: Any) -> None:
    from asyncua import ua
    from paho.mqtt.client import Client, MQTTv5
    from paho.mqtt.enums import CallbackAPIVersion
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    from protocols.sim.opcua_server import OpcUaPlantServer
    from protocols.sim.plant import Plant

    device = SimDevice(
        id=1,
        simdata=[SimData(address=0, count=MODBUS_TAGS, values=7, datatype=DataType.REGISTERS)],
    )
    modbus = ModbusTcpServer([device], address=("127.0.0.1", modbus_port))
    await modbus.serve_forever(background=True)

    sim = OpcUaPlantServer(Plant(), port=opcua_port)
    await sim.start()
    folder = await sim.server.get_objects_node().add_object(sim.namespace_index, "Bench")
    nodes = []
    for index in range(OPCUA_TAGS):
        node_id = ua.NodeId(ua.String(f"bench.v{index}"), ua.Int16(sim.namespace_index))
        await folder.add_variable(node_id, f"v{index}", 0.0, varianttype=ua.VariantType.Double)
        nodes.append(node_id)

    mqtt = Client(CallbackAPIVersion.VERSION2, protocol=MQTTv5)
    mqtt.connect("127.0.0.1", mqtt_port)
    mqtt.loop_start()
    ready.set()
    tick = 0
    while True:  # until the parent terminates this process
        tick += 1
        for node_id in nodes:
            await sim.server.write_attribute_value(
                node_id, ua.DataValue(ua.Variant(float(tick), ua.VariantType.Double))
            )
        for doc in range(MQTT_DOCS):
            values = {f"v{i}": tick + i / 10 for i in _mqtt_slice(doc)}
            mqtt.publish(f"bench/doc{doc}", json.dumps(values).encode(), qos=0)
        await asyncio.sleep(1.0)


def _mqtt_slice(doc: int) -> range:
    per = -(-MQTT_TAGS // MQTT_DOCS)
    return range(doc * per, min(MQTT_TAGS, (doc + 1) * per))


# --- the agent's config ----------------------------------------------------------------------


def agent_config(folder: Path, hub_port: int, panel_port: int, ports: tuple[int, int, int]) -> Path:
    modbus_port, opcua_port, mqtt_port = ports
    modbus_tags = [{"name": f"mb.r{i}", "address": i, "type": "uint16"} for i in range(MODBUS_TAGS)]
    opcua_tags = [{"name": f"ua.v{i}", "node": f"ns=2;s=bench.v{i}"} for i in range(OPCUA_TAGS)]
    subscriptions = [
        {
            "topic": f"bench/doc{doc}",
            "payload": {
                "format": "json",
                "tags": [{"name": f"mq.v{i}", "path": f"$.v{i}"} for i in _mqtt_slice(doc)],
            },
        }
        for doc in range(MQTT_DOCS)
    ]
    tags = [
        *(f"mb.r{i}" for i in range(MODBUS_TAGS)),
        *(f"ua.v{i}" for i in range(OPCUA_TAGS)),
        *(f"mq.v{i}" for i in range(MQTT_TAGS)),
    ]
    config = {
        "agent_id": "bench-rss",
        "hub": {"url": f"http://127.0.0.1:{hub_port}", "token_file": str(folder / "token")},
        "buffer": {"path": str(folder / "agent.sqlite")},
        "panel": {"port": panel_port},
        "sources": [
            {
                "kind": "modbus_tcp",
                "name": "plc",
                "host": "127.0.0.1",
                "port": modbus_port,
                "poll_interval": "1s",
                "tags": modbus_tags,
            },
            {
                "kind": "opcua",
                "name": "ua",
                "endpoint": f"opc.tcp://127.0.0.1:{opcua_port}",
                "groups": [{"interval": "1s", "tags": opcua_tags}],
            },
            {
                "kind": "mqtt",
                "name": "broker",
                "host": "127.0.0.1",
                "port": mqtt_port,
                "client_id": "bench-rss-agent",
                "subscriptions": subscriptions,
            },
        ],
        "rules": [
            {"kind": "threshold", "name": f"limit-{tag}", "tag": tag, "hi": 1e12} for tag in tags
        ],
    }
    path = folder / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


# --- processes and measurements ----------------------------------------------------------------


Memory = dict[str, float]
"""VmRSS, VmHWM (the peak), RssAnon (the heap and stacks), RssFile (mapped libraries and
code, shared with other processes using the same files), in MB."""


def memory(pid: int) -> Memory:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


_PROBE = """
import ctypes, gc, importlib, json, sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
# As in the agent (edge_agent/__init__.py): httpx's command line client is never loaded.
sys.modules["httpx._main"] = None
costs, before = [], rss()
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
    after = rss()
    costs.append((name, after - before))
    before = after
raw = rss()
gc.collect()
ctypes.CDLL(None).malloc_trim(0)  # as the agent does once settled (edge_agent/memory.py)
stdlib = set(sys.stdlib_module_names) | {"__main__", "_distutils_hack"}
ours = {"edge_agent", "protocols", "floorgate", "hub"}
tops = {m.split(".")[0] for m in sys.modules} - stdlib - ours
# Extension internals (_cffi_backend, cython_runtime, ...) come with their packages.
loaded = sorted(t for t in tops if not t.startswith("_") and t != "cython_runtime")
print(json.dumps({"raw": raw, "rss": rss(), "costs": costs, "loaded": loaded}))
"""


def probe(modules: list[str]) -> dict[str, Any]:
    """Import ``modules`` in a fresh interpreter: RSS right after (``raw``) and trimmed
    (``rss``), what each import added (before trimming), the packages loaded."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(modules)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@contextlib.contextmanager
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        child = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def floorgate(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "floorgate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def wait_ready(panel: str, agent: subprocess.Popen[bytes]) -> None:
    """Until the agent reports all three sources up and has delivered events to the hub."""
    deadline = time.monotonic() + READY_LIMIT_S
    while time.monotonic() < deadline:
        if agent.poll() is not None:
            raise SystemExit(f"the agent exited with {agent.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            text = httpx.get(f"{panel}/metrics", timeout=2).text
            samples = {
                name: float(value)
                for name, _, value in (line.rpartition(" ") for line in text.splitlines())
                if name and not name.startswith("#")
            }
            up = [v for k, v in samples.items() if k.startswith("floorgate_agent_source_up")]
            if len(up) == 3 and all(up) and samples.get("floorgate_agent_events_sent", 0) > 0:
                return
        time.sleep(0.5)  # another process: nothing to await
    raise SystemExit(f"the agent was not ready within {READY_LIMIT_S}s")


def main() -> None:
    bare = probe([])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        modbus_port, opcua_port, mqtt_port = free_port(), free_port(), free_port()
        hub_port, panel_port = free_port(), free_port()
        broker = start_broker(folder, mqtt_port)
        ready = multiprocessing.Event()
        plant = multiprocessing.Process(
            target=serve_plant, args=(modbus_port, opcua_port, mqtt_port, ready), daemon=True
        )
        plant.start()
        try:
            if not ready.wait(60):
                raise SystemExit("the plant did not start")
            db = folder / "hub.duckdb"
            (folder / "token").write_text(
                floorgate("token", "create", "--agent", "bench-rss", "--db", str(db))
            )
            config = agent_config(
                folder, hub_port, panel_port, (modbus_port, opcua_port, mqtt_port)
            )
            hub_args = [
                sys.executable,
                "-m",
                "floorgate",
                "hub",
                "--db",
                str(db),
                "--port",
                str(hub_port),
            ]
            with process(hub_args, folder / "hub.log"):
                agent_args = [sys.executable, "-m", "floorgate", "agent", "--config", str(config)]
                with process(agent_args, folder / "agent.log") as agent:
                    started = time.monotonic()
                    try:
                        wait_ready(f"http://127.0.0.1:{panel_port}", agent)
                    except SystemExit:
                        print((folder / "agent.log").read_text()[-3000:], file=sys.stderr)
                        raise
                    # Sample the agent as it runs for months: after its first trim.
                    time.sleep(max(0.0, started + SETTLE_SECONDS + 1 - time.monotonic()))
                    samples: list[Memory] = []
                    for _ in range(SAMPLE_S):
                        time.sleep(1.0)  # sampling another process's memory
                        samples.append(memory(agent.pid))
        finally:
            plant.terminate()
            plant.join(10)
            broker.send_signal(signal.SIGTERM)
            broker.wait(10)
    last, peak = samples[-1], max(s["VmHWM"] for s in samples)
    rss = last["VmRSS"]
    ours = probe(list(AGENT_MODULES))
    loaded: list[str] = ours["loaded"]
    libraries = probe(loaded)
    total = MODBUS_TAGS + OPCUA_TAGS + MQTT_TAGS
    print(
        f"agent, {total} tags ({MODBUS_TAGS} Modbus, {OPCUA_TAGS} OPC UA, {MQTT_TAGS} MQTT), "
        f"{total} rules, {SAMPLE_S}s after all sources were up:"
    )
    print(
        f"  RSS {rss:5.1f} MB (heap and stacks {last['RssAnon']:.1f}, mapped files "
        f"{last['RssFile']:.1f}); peak {peak:.1f} MB"
    )
    print("fresh interpreters, after gc and malloc_trim (immediately after the imports):")
    print(f"  bare python                              {bare['rss']:5.1f} MB")
    print(
        f"  importing the same libraries             {libraries['rss']:5.1f} MB"
        f"  ({libraries['raw']:.1f})"
    )
    print(f"    {', '.join(loaded)}")
    print(f"  importing the agent's modules            {ours['rss']:5.1f} MB  ({ours['raw']:.1f})")
    print(f"  agent's state beyond its imports         {rss - ours['rss']:5.1f} MB")
    print("what each import adds, in the agent's order (untrimmed):")
    for name, cost in ours["costs"]:
        print(f"  {name:24s} +{cost:5.1f} MB")
    print(f"target <= {TARGET_MB:.0f} MB: {'met' if rss <= TARGET_MB else 'not met'}")


if __name__ == "__main__":
    main()
