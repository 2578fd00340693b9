"""Publishes the simulated plant to an MQTT broker as JSON per area and as a Sparkplug B node.

JSON: ``{prefix}/{area}`` (e.g. ``floorgate/sim/press``) gets
``{"temperature": 62.1, "pressure": 180.0, "cycle_count": 3, "state": 1, "ts": <epoch ms>}``
at QoS 1. Sparkplug B: edge node ``spBv1.0/{group}/.../{node}`` with metrics named
``{area}/{key}`` (``press/temperature``), aliases 1..n in ``SPARKPLUG_METRICS`` order, NBIRTH on
start and on a rebirth command, NDATA by alias on every ``publish()``, NDEATH as the last will
and before a clean stop. A rebirth NCMD is answered at the next ``publish()``.

paho's publish queue has no bound, so every publish waits while ``max_inflight`` messages are not
yet acknowledged (QoS 1) or written (QoS 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Callable
from typing import Any, Final

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from protocols.sim.plant import Plant
from protocols.sparkplug import (
    BDSEQ_METRIC,
    REBIRTH_METRIC,
    SEQ_MODULUS,
    DataType,
    MessageType,
    Metric,
    Payload,
    SparkplugError,
    Topic,
    decode_payload,
    encode_payload,
)
from protocols.wire import Scalar, utc_now

log = logging.getLogger(__name__)

SPARKPLUG_METRICS: Final = (
    ("press/temperature", DataType.DOUBLE),
    ("press/pressure", DataType.DOUBLE),
    ("press/cycle_count", DataType.INT64),
    ("press/state", DataType.INT32),
    ("oven/zone1", DataType.DOUBLE),
    ("oven/zone2", DataType.DOUBLE),
    ("oven/zone3", DataType.DOUBLE),
    ("pack/count", DataType.INT64),
    ("pack/lot", DataType.STRING),
    ("silo/level", DataType.DOUBLE),
)
"""(metric name, datatype); the alias of each is its position + 1."""

GARBAGE: Final = b'\xff{"temperature": ,'


def metric_name(tag: str) -> str:
    """The Sparkplug metric of a plant tag: ``press.temperature`` -> ``press/temperature``."""
    area, key = tag.split(".", 1)
    return f"{area}/{key}"


class MqttPlantPublisher:
    """Publishes the plant's values to a broker; ``garble`` and ``skip_seq`` inject faults.

    Args:
        plant: The plant whose values are published.
        host: The broker; loopback by default.
        port: The broker's port.
        prefix: Topic prefix of the JSON messages.
        sparkplug_group: Sparkplug group id.
        sparkplug_node: Sparkplug edge node id.
        max_inflight: Messages handed to paho but not yet acknowledged or sent, at most.
    """

    def __init__(
        self,
        plant: Plant,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        prefix: str = "floorgate/sim",
        sparkplug_group: str = "plant",
        sparkplug_node: str = "sim",
        max_inflight: int = 100,
    ) -> None:
        self.plant = plant
        self.host = host
        self.port = port
        self.prefix = prefix
        self.group = sparkplug_group
        self.node = sparkplug_node
        self.published = 0
        self.births = 0
        self._max_inflight = max_inflight
        self._client: Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: set[int] = set()
        self._room = asyncio.Event()
        self._connected: asyncio.Future[ReasonCode] | None = None
        self._lost = False
        self._seq = 0
        self._bd_seq = -1
        self._rebirth_due = False

    @property
    def running(self) -> bool:
        return self._client is not None and not self._lost

    def topic(self, kind: MessageType) -> str:
        return str(Topic(self.group, kind, self.node))

    async def start(self) -> None:
        """Connect (the NDEATH will is registered first), then publish NBIRTH and the values."""
        if self._client is not None:
            return
        loop = self._loop = asyncio.get_running_loop()
        self._bd_seq = (self._bd_seq + 1) % SEQ_MODULUS
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"floorgate-sim-{self.node}",
            protocol=MQTTv5,
            reconnect_on_failure=False,
        )
        client.will_set(self.topic(MessageType.NDEATH), self._death(), qos=1)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._connected = loop.create_future()
        self._lost = False
        self._inflight.clear()
        self._room.set()
        try:
            await asyncio.to_thread(client.connect, self.host, self.port, keepalive=30)
        except OSError as exc:
            raise OSError(f"mqtt sim cannot reach {self.host}:{self.port}: {exc}") from exc
        sock = client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.loop_start()
        self._client = client
        try:
            reason = await asyncio.wait_for(self._connected, 5.0)
            if reason.is_failure:
                raise OSError(f"mqtt sim: the broker refused the connection: {reason}")
            client.subscribe(self.topic(MessageType.NCMD), qos=0)
            await self._birth()
            await self.publish()
        except BaseException:
            await self._close(client)
            raise
        log.info("mqtt sim publishing to %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Publish NDEATH (as a clean disconnect does not trigger the will) and disconnect."""
        client = self._client
        if client is None:
            return
        if not self._lost:
            with contextlib.suppress(OSError, TimeoutError):
                await self._send(self.topic(MessageType.NDEATH), self._death(), qos=1)
                await asyncio.wait_for(self._drained(), 5.0)
        await self._close(client)
        log.info("mqtt sim stopped")

    async def _close(self, client: Client) -> None:
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        self._client = None

    async def publish(self) -> None:
        """Publish the plant's current values: JSON per area, and NDATA (or NBIRTH if asked)."""
        if self._client is None or self._lost:
            return
        values = self.plant.values()
        stamp = _now_ms()
        areas: dict[str, dict[str, Scalar]] = {}
        for tag, value in values.items():
            area, key = tag.split(".", 1)
            areas.setdefault(area, {})[key] = value
        for area, fields in areas.items():
            body = json.dumps({**fields, "ts": stamp}).encode()
            await self._send(f"{self.prefix}/{area}", body, qos=1)
        if self._rebirth_due:
            await self._birth()
            return
        metrics = tuple(
            Metric(alias=alias, timestamp=stamp, datatype=datatype, value=values[_tag(name)])
            for alias, (name, datatype) in enumerate(SPARKPLUG_METRICS, start=1)
        )
        await self._send(self.topic(MessageType.NDATA), self._payload(metrics, stamp), qos=0)

    async def garble(self, n: int, topic: str | None = None) -> None:
        """Publish ``n`` payloads that are neither JSON nor protobuf (default: the press topic)."""
        for _ in range(n):
            await self._send(topic or f"{self.prefix}/press", GARBAGE, qos=1)

    def skip_seq(self, n: int = 1) -> None:
        """Lose the next ``n`` Sparkplug messages: the sequence number jumps over them."""
        self._seq = (self._seq + n) % SEQ_MODULUS

    async def _birth(self) -> None:
        self._rebirth_due = False
        self._seq = 0
        values = self.plant.values()
        stamp = _now_ms()
        metrics = [
            Metric(name=BDSEQ_METRIC, timestamp=stamp, datatype=DataType.INT64, value=self._bd_seq),
            Metric(name=REBIRTH_METRIC, timestamp=stamp, datatype=DataType.BOOLEAN, value=False),
        ]
        metrics += [
            Metric(name, alias, stamp, datatype, values[_tag(name)])
            for alias, (name, datatype) in enumerate(SPARKPLUG_METRICS, start=1)
        ]
        await self._send(self.topic(MessageType.NBIRTH), self._payload(tuple(metrics), stamp), 0)
        self.births += 1

    def _payload(self, metrics: tuple[Metric, ...], stamp: int) -> bytes:
        payload = Payload(timestamp=stamp, metrics=metrics, seq=self._seq)
        self._seq = (self._seq + 1) % SEQ_MODULUS
        return encode_payload(payload)

    def _death(self) -> bytes:
        bd_seq = Metric(name=BDSEQ_METRIC, datatype=DataType.INT64, value=self._bd_seq)
        return encode_payload(Payload(timestamp=_now_ms(), metrics=(bd_seq,)))

    async def _send(self, topic: str, payload: bytes, qos: int) -> None:
        """Publish once fewer than ``max_inflight`` messages are outstanding (backpressure)."""
        while len(self._inflight) >= self._max_inflight and not self._lost:
            self._room.clear()
            await self._room.wait()
        client = self._client
        if client is None or self._lost:
            raise OSError("mqtt sim: not connected")
        info = client.publish(topic, payload, qos=qos)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise OSError(f"mqtt sim: publish failed: {info.rc}")
        # on_publish reaches the loop only after this line: the loop is busy with us until then.
        self._inflight.add(info.mid)
        self.published += 1

    async def _drained(self) -> None:
        while self._inflight and not self._lost:
            self._room.clear()
            await self._room.wait()

    # paho callbacks (network thread): hand over to the loop

    def _to_loop(self, callback: Callable[..., object], *args: Any) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: shutting down
                self._loop.call_soon_threadsafe(callback, *args)

    def _on_connect(
        self, client: Client, _: Any, flags: ConnectFlags, reason: ReasonCode, p: Properties | None
    ) -> None:
        self._to_loop(self._set_connected, reason)

    def _on_disconnect(
        self,
        client: Client,
        _: Any,
        flags: DisconnectFlags,
        reason: ReasonCode,
        p: Properties | None,
    ) -> None:
        self._to_loop(self._set_lost)

    def _on_publish(
        self, client: Client, _: Any, mid: int, reason: ReasonCode, p: Properties | None
    ) -> None:
        self._to_loop(self._acked, mid)

    def _on_message(self, client: Client, _: Any, message: MQTTMessage) -> None:
        self._to_loop(self._command, bytes(message.payload))

    def _set_connected(self, reason: ReasonCode) -> None:
        if self._connected is not None and not self._connected.done():
            self._connected.set_result(reason)

    def _set_lost(self) -> None:
        self._lost = True
        self._room.set()  # wake senders: they see _lost and stop
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(OSError("mqtt sim: connection lost"))

    def _acked(self, mid: int) -> None:
        self._inflight.discard(mid)
        if len(self._inflight) < self._max_inflight:
            self._room.set()

    def _command(self, data: bytes) -> None:
        try:
            payload = decode_payload(data)
        except SparkplugError:
            log.warning("mqtt sim: unreadable NCMD ignored")
            return
        if any(m.name == REBIRTH_METRIC and m.value is True for m in payload.metrics):
            log.info("mqtt sim: rebirth requested")
            self._rebirth_due = True

    async def __aenter__(self) -> MqttPlantPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _tag(metric: str) -> str:
    area, key = metric.split("/", 1)
    return f"{area}.{key}"


def _now_ms() -> int:
    return int(utc_now().timestamp() * 1000)
