"""Readings/s through ``Mqtt.scans()`` vs a raw paho subscriber draining the same backlog.

A private mosquitto on a free loopback port keeps a persistent session for each subscriber
(``queue_qos0_messages``). Each round a publisher process sends MESSAGES JSON payloads with two
values each while both subscribers are away, fenced by a QoS 1 message whose PUBACK means the
broker has queued them all; then each subscriber connects and drains its backlog, timed from
just before it connects until it has the last value (the adapter's extra SUBSCRIBE round trip,
about a millisecond, is in its time). Neither the publisher nor the broker runs in this process,
the publisher is done before a drain starts, and the broker (C) sends faster than a Python
client can take: the drain rate is the client's ceiling, not the publisher's pace.

The raw subscriber parses each payload with ``json.loads`` in paho's callback and counts the two
values; ours runs the full adapter path (thread hand-off, routing, JSONPath, Reading). They
drain alternately in ROUNDS rounds (the order flips every round, so a drift of the machine's
speed hits both alike); the medians and their ratio are printed. Every drain is bounded by
DRAIN_LIMIT and the run by TIME_LIMIT.

    .venv/bin/python bench/bench_mqtt.py
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from paho.mqtt.client import Client, MQTTMessage, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from protocols.mqtt import Mqtt
from protocols.mqtt_config import MqttSource

MESSAGES = 20_000
"""Per round and subscriber."""
VALUES_PER_MESSAGE = 2
ROUNDS = 5
DRAIN_LIMIT = 20.0
TIME_LIMIT = 240.0
TARGET = 0.80
TOPIC = "bench/press"
FENCE_TOPIC = "bench/fence"
SESSION_EXPIRY = 600
RAW_ID, OURS_ID = "bench-raw", "bench-ours"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_broker(folder: Path, port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    config = folder / "mosquitto.conf"
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "set_tcp_nodelay true",
        "persistence false",
        "queue_qos0_messages true",  # the backlog of an away subscriber, QoS 0 as delivered
        f"max_queued_messages {2 * MESSAGES}",
        "max_queued_bytes 0",
        "max_inflight_messages 0",
        "user root" if os.geteuid() == 0 else "",
    ]
    config.write_text("\n".join(lines) + "\n")
    broker = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return broker
        except OSError:
            time.sleep(0.02)  # a separate process: nothing to await
    broker.kill()
    raise SystemExit(f"mosquitto did not start on {port}")


def _nodelay(client: Client) -> None:
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# --- the publisher process ---------------------------------------------------------------------


def publish(port: int, count: int) -> None:
    """Child process: ``count`` QoS 0 messages, then a QoS 1 fence acked after all of them."""
    client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTv5)
    client.connect("127.0.0.1", port)
    _nodelay(client)
    client.loop_start()
    for i in range(count):
        body = {"temperature": 60.0 + (i % 100) / 10, "pressure": 180.0 + i % 7, "ts": i}
        client.publish(TOPIC, json.dumps(body).encode(), qos=0)
    # The broker handles one connection's packets in order: this PUBACK follows the queuing.
    client.publish(FENCE_TOPIC, b"", qos=1).wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def fill_backlogs(port: int) -> None:
    subprocess.run(
        [sys.executable, __file__, "--publish", str(port), str(MESSAGES)],
        cwd=Path(__file__).parents[1],
        check=True,
        timeout=60,
    )


# --- the two subscribers -----------------------------------------------------------------------

Drain = tuple[int, float, float]
"""(values or readings received, seconds from connecting to the last one, CPU seconds)."""


def raw_client(port: int, on_message: Any = None, clean: bool = False) -> Client:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_EXPIRY
    client = Client(CallbackAPIVersion.VERSION2, client_id=RAW_ID, protocol=MQTTv5)
    client.on_message = on_message
    client.connect("127.0.0.1", port, clean_start=clean, properties=properties)
    _nodelay(client)
    return client


def raw_session(port: int) -> None:
    """Create the raw subscriber's persistent session and its subscription."""
    subscribed = threading.Event()
    client = raw_client(port, clean=True)
    client.on_subscribe = lambda *args: subscribed.set()
    client.loop_start()
    client.subscribe(TOPIC, qos=0)
    if not subscribed.wait(5):
        raise SystemExit("no SUBACK for the raw subscriber")
    client.disconnect()
    client.loop_stop()


def raw_drain(port: int) -> Drain:
    done = threading.Event()
    state: dict[str, Any] = {"values": 0, "last": 0.0}

    def on_message(client: Client, userdata: Any, message: MQTTMessage) -> None:
        document = json.loads(message.payload)
        values = [document["temperature"], document["pressure"]]
        state["values"] += len(values)
        state["last"] = time.perf_counter()
        if state["values"] >= MESSAGES * VALUES_PER_MESSAGE:
            done.set()

    cpu, started = time.process_time(), time.perf_counter()
    client = raw_client(port, on_message)
    client.loop_start()
    done.wait(DRAIN_LIMIT)
    cpu = time.process_time() - cpu
    client.disconnect()
    client.loop_stop()
    return state["values"], max(state["last"] - started, 1e-9), cpu


def ours_config(port: int) -> MqttSource:
    return MqttSource.model_validate(
        {
            "kind": "mqtt",
            "name": "bench",
            "host": "127.0.0.1",
            "port": port,
            "client_id": OURS_ID,
            "session_expiry": SESSION_EXPIRY,
            "max_queued": MESSAGES,
            "subscriptions": [
                {
                    "topic": TOPIC,
                    "qos": 0,
                    "payload": {
                        "format": "json",
                        "tags": [
                            {"name": "temperature", "path": "$.temperature"},
                            {"name": "pressure", "path": "$.pressure"},
                        ],
                    },
                }
            ],
        }
    )


async def ours_drain(port: int) -> Drain:
    source = Mqtt(ours_config(port))
    readings, last = 0, 0.0
    cpu, started = time.process_time(), time.perf_counter()
    async with source:
        try:
            async with asyncio.timeout(DRAIN_LIMIT):
                async for batch in source.scans():
                    readings += len(batch)
                    last = time.perf_counter()
                    if readings >= MESSAGES * VALUES_PER_MESSAGE:
                        break
        except TimeoutError:
            pass
        cpu = time.process_time() - cpu
        if source.dropped:
            print(f"  (ours dropped {source.dropped} messages)")
    return readings, max(last - started, 1e-9), cpu


async def ours_session(port: int) -> None:
    """Create our subscriber's persistent session: the adapter subscribes when it connects."""
    async with Mqtt(ours_config(port)):
        pass


# --- the run -----------------------------------------------------------------------------------


def measure(port: int) -> None:
    raw_session(port)
    asyncio.run(ours_session(port))
    runs = {
        "raw paho": lambda: raw_drain(port),
        "Mqtt.scans()": lambda: asyncio.run(ours_drain(port)),
    }
    rates: dict[str, list[float]] = {name: [] for name in runs}
    cpu_per_value: dict[str, list[float]] = {name: [] for name in runs}
    short: list[str] = []
    deadline = time.monotonic() + TIME_LIMIT
    for index in range(ROUNDS):
        if time.monotonic() > deadline:
            break
        fill_backlogs(port)
        names = list(runs) if index % 2 == 0 else list(reversed(runs))
        for name in names:
            got, seconds, cpu = runs[name]()
            rates[name].append(got / seconds)
            cpu_per_value[name].append(cpu / max(got, 1) * 1e6)
            if got < MESSAGES * VALUES_PER_MESSAGE:
                short.append(f"{name} round {index + 1}: {got} of {MESSAGES * VALUES_PER_MESSAGE}")
    print(
        f"backlog of {MESSAGES:,} JSON messages x {VALUES_PER_MESSAGE} values per round, "
        f"loopback mosquitto, median of {len(rates['raw paho'])} alternating rounds"
    )
    for name in runs:
        print(
            f"{name:13s}: {statistics.median(rates[name]):>9,.0f} values/s "
            f"({statistics.median(cpu_per_value[name]):.1f} us CPU per value)  rounds: "
            + " ".join(f"{rate:,.0f}" for rate in rates[name])
        )
    ratio = statistics.median(rates["Mqtt.scans()"]) / statistics.median(rates["raw paho"])
    print(f"ratio {ratio:.0%} of raw (target >= {TARGET:.0%})")
    for line in short:
        print(f"INCOMPLETE: {line}", file=sys.stderr)


def main() -> int:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        broker = start_broker(Path(folder), port)
        try:
            measure(port)
        finally:
            os.kill(broker.pid, signal.SIGTERM)
            broker.wait(5)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--publish":
        publish(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(main())
