"""Readings/s through ``Mqtt.scans()`` vs a raw paho subscriber, same broker, same messages.

A private mosquitto (``set_tcp_nodelay true``) on a free loopback port; a publisher in a separate
process (so it does not share our GIL) sends MESSAGES JSON payloads with two values each, in
bursts of BURST awaited with ``wait_for_publish`` (paho's queue has no bound). The raw
subscriber parses each payload with ``json.loads`` in paho's callback and counts the values; ours
runs the full adapter path (thread hand-off, routing, JSONPath, Reading). Raw and ours alternate
ROUNDS times; the best of each is compared (the CPU speed of these machines changes by about 2x
within minutes).

    .venv/bin/python bench/bench_mqtt.py
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from paho.mqtt.client import Client, MQTTMessage, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion

from protocols.mqtt import Mqtt
from protocols.mqtt_config import MqttSource

MESSAGES = 50_000
VALUES_PER_MESSAGE = 2
BURST = 500
ROUNDS = 2
TIME_LIMIT = 30.0
TOPIC = "bench/press"


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
        "max_queued_messages 1000000",
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
            time.sleep(0.02)
    broker.kill()
    raise SystemExit(f"mosquitto did not start on {port}")


def publish(port: int, count: int) -> None:
    """Child process: send ``count`` messages in bursts, each burst flushed before the next."""
    client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTv5)
    client.connect("127.0.0.1", port)
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.loop_start()
    for start in range(0, count, BURST):
        info = None
        for i in range(start, min(start + BURST, count)):
            body = {"temperature": 60.0 + (i % 100) / 10, "pressure": 180.0 + i % 7, "ts": i}
            info = client.publish(TOPIC, json.dumps(body).encode(), qos=0)
        assert info is not None
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def run_publisher(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--publish", str(port), str(MESSAGES)],
        cwd=Path(__file__).parents[1],
    )


def raw_paho(port: int) -> tuple[int, float]:
    """Values received and seconds from the first message to the last."""
    done = threading.Event()
    state: dict[str, Any] = {"values": 0, "first": None, "last": 0.0}

    def on_message(client: Client, userdata: Any, message: MQTTMessage) -> None:
        document = json.loads(message.payload)
        values = [document["temperature"], document["pressure"]]
        now = time.perf_counter()
        if state["first"] is None:
            state["first"] = now
        state["values"] += len(values)
        state["last"] = now
        if state["values"] >= MESSAGES * VALUES_PER_MESSAGE:
            done.set()

    subscribed = threading.Event()
    client = Client(CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=MQTTv5)
    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect("127.0.0.1", port)
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.loop_start()
    client.subscribe(TOPIC, qos=0)
    subscribed.wait(5)
    publisher = run_publisher(port)
    done.wait(TIME_LIMIT)
    publisher.wait()
    client.disconnect()
    client.loop_stop()
    first = state["first"] or 0.0
    return state["values"], max(state["last"] - first, 1e-9)


async def ours(port: int) -> tuple[int, float, int]:
    """Readings, seconds from the first batch to the last, messages dropped by the inbox."""
    config = MqttSource.model_validate(
        {
            "kind": "mqtt",
            "name": "bench",
            "host": "127.0.0.1",
            "port": port,
            "client_id": "bench-ours",
            "clean_start": True,
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
    source = Mqtt(config)
    readings, first, last = 0, 0.0, 0.0
    async with source:
        publisher = await asyncio.to_thread(run_publisher, port)
        try:
            async with asyncio.timeout(TIME_LIMIT):
                async for batch in source.scans():
                    now = time.perf_counter()
                    if not readings:
                        first = now
                    readings += len(batch)
                    last = now
                    if readings >= MESSAGES * VALUES_PER_MESSAGE:
                        break
        except TimeoutError:
            pass
        await asyncio.to_thread(publisher.wait)
    return readings, max(last - first, 1e-9), source.dropped


def main() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        broker = start_broker(Path(folder), port)
        try:
            raw_rates, our_rates = [], []
            print(f"{MESSAGES} JSON messages x {VALUES_PER_MESSAGE} values, loopback mosquitto")
            for round_ in range(1, ROUNDS + 1):
                values, seconds = raw_paho(port)
                raw_rates.append(values / seconds)
                readings, our_seconds, dropped = asyncio.run(ours(port))
                our_rates.append(readings / our_seconds)
                print(
                    f"round {round_}: raw paho {values:>7} values {values / seconds:>10,.0f}/s"
                    f" | Mqtt.scans() {readings:>7} readings {readings / our_seconds:>10,.0f}/s"
                    f" (dropped {dropped})"
                )
            best_raw, best_ours = max(raw_rates), max(our_rates)
            print(
                f"best: raw paho {best_raw:,.0f} values/s, Mqtt.scans() {best_ours:,.0f}"
                f" readings/s, ratio {best_ours / best_raw:.0%} (target >= 80%)"
            )
        finally:
            os.kill(broker.pid, signal.SIGTERM)
            broker.wait(5)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--publish":
        publish(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
