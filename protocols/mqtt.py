"""MQTT adapter: subscriptions with plain, JSON or Sparkplug B payloads become readings.

The only module besides the simulator that imports paho. paho runs its own network thread
(``loop_start``); its callbacks only hand work to the event loop. Incoming messages go through a
bounded inbox that drops the OLDEST message when full and counts it (``dropped``): the network
thread must never block, because it also answers keepalives and acknowledges QoS 1. paho's own
reconnect is off (``reconnect_on_failure=False``): a lost connection ends ``scans()`` with
``ConnectError`` and the agent's supervisor decides when to connect again. The session is
persistent by default (MQTT v5, ``clean_start=False`` plus session expiry), so QoS 1 messages
published meanwhile wait at the broker for the next connection with the same client id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

from paho.mqtt.client import (
    Client,
    ConnectFlags,
    DisconnectFlags,
    MQTTMessage,
    MQTTMessageInfo,
    MQTTv5,
    error_string,
    topic_matches_sub,
)
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from protocols.base import ConnectError, DeviceError, Reading, ReadTimeout, WriteRefused
from protocols.mqtt_config import (
    JsonPayload,
    MqttSource,
    MqttSubscription,
    PlainPayload,
    SparkplugPayload,
)
from protocols.mqtt_payload import (
    MISSING,
    Path,
    PayloadError,
    decode_plain,
    encode_plain,
    extract,
    json_scalar,
    load_json,
    parse_path,
    parse_timestamp,
)
from protocols.sparkplug import (
    DataType,
    EdgeNode,
    MessageType,
    Metric,
    Payload,
    SparkplugError,
    Topic,
    datatype_for,
    decode_payload,
    encode_payload,
    parse_topic,
    rebirth_command,
)
from protocols.wire import Quality, Scalar, utc_now

log = logging.getLogger(__name__)

_TAG_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,199}$")  # protocols.config.TagName
_ROUTE_CACHE_LIMIT = 4096
_Message = tuple[str, bytes, datetime]
_FEW = 32  # a take with fewer messages than this may linger under a flood
_BUSY = 0.0005  # seconds between takes that count as a flood (2,000 takes/s and more)
_LINGER = 0.001  # the most a message waits for company


class _Inbox:
    """Messages from paho's network thread to the event loop.

    Bounded at ``limit``: when full, ``put`` drops the OLDEST message and counts it in
    ``dropped``; it never blocks. The loop is woken with ``call_soon_threadsafe`` only when it
    is not already due to run. Under a flood (takes less than ``_BUSY`` apart) a take that finds
    only a few messages lingers ``_LINGER`` for more: a wake-up per message costs two GIL
    hand-offs and measured about 60 us, more than decoding the message. At lower rates nothing
    waits.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self._loop = loop
        self._limit = limit
        self._items: deque[_Message] = deque()
        self._lock = threading.Lock()
        self._wake = asyncio.Event()
        self._wake_pending = False
        self._closed: str | None = None
        self._last_take = 0.0
        self.dropped = 0

    def put(self, item: _Message) -> None:
        """Network thread: queue one message."""
        with self._lock:
            if len(self._items) >= self._limit:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            if self._wake_pending:
                return
            self._wake_pending = True
        _call_soon(self._loop, self._wake.set)

    def close(self, reason: str) -> None:
        """Event loop: no more messages will come; ``take`` raises once the queue is empty."""
        with self._lock:
            if self._closed is None:
                self._closed = reason
        self._wake.set()

    async def take(self) -> list[_Message]:
        """Every queued message, waiting for at least one.

        Raises:
            ConnectError: The connection is gone and every message before that was taken.
        """
        while True:
            with self._lock:
                count = len(self._items)
            now = self._loop.time()
            if 0 < count < _FEW and now - self._last_take < _BUSY and self._closed is None:
                await asyncio.sleep(_LINGER)
            with self._lock:
                if self._items:
                    items = list(self._items)
                    self._items.clear()
                    self._wake_pending = False
                    self._last_take = self._loop.time()
                    return items
                if self._closed is not None:
                    raise ConnectError(self._closed)
                self._wake_pending = False
                self._wake.clear()
            await self._wake.wait()


def _call_soon(
    loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: Any
) -> None:
    """From the network thread; a closed loop means we are shutting down, nothing to tell."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


@dataclass(frozen=True, slots=True)
class _JsonTag:
    name: str
    path: Path
    stamp: Path | None


@dataclass(frozen=True, slots=True)
class _Route:
    """A non-Sparkplug subscription, compiled."""

    filter: str
    payload: PlainPayload | JsonPayload
    json_tags: tuple[_JsonTag, ...] = ()


@dataclass
class _SparkplugNode:
    tracker: EdgeNode
    tags: dict[tuple[str | None, str], str]
    """(device, metric name) -> tag."""


@dataclass(frozen=True, slots=True)
class _Command:
    """Where a write to a tag goes."""

    topic: str
    plain: PlainPayload | None = None
    sparkplug: tuple[_SparkplugNode, str | None, str] | None = None
    """(node, device, metric name)."""


class Mqtt:
    """An MQTT broker and the subscriptions of one source.

    Args:
        config: The broker, the session and the subscriptions.
        clock: Returns the current UTC time (receive time of messages); tests pass their own.

    Attributes:
        garbled: Payloads that could not be read, counted per topic; they are skipped.
        dropped: Messages dropped from the full inbox (oldest first), over this object's life.
        rebirths: Sparkplug rebirth requests sent.
    """

    def __init__(self, config: MqttSource, clock: Callable[[], datetime] = utc_now) -> None:
        self.name = config.name
        self.garbled: dict[str, int] = {}
        self.rebirths = 0
        self._config = config
        self._clock = clock
        self._static_tags = [tag for _, tag in config.tag_paths()]
        self._dynamic_tags: dict[str, None] = {}  # wildcard plain tags, in order of arrival
        self._routes: list[_Route] = []
        self._nodes: dict[tuple[str, str], _SparkplugNode] = {}
        self._commands: dict[str, _Command] = {}
        self._route_cache: dict[str, tuple[_Route, ...]] = {}
        for subscription in config.subscriptions:
            self._compile(subscription)
        self._client: Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: _Inbox | None = None
        self._connack: asyncio.Future[ReasonCode] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}  # mid -> PUBACK/SUBACK
        self._dropped_before = 0
        self._drop_logged = False

    def _compile(self, subscription: MqttSubscription) -> None:
        payload = subscription.payload
        if isinstance(payload, SparkplugPayload):
            key = (payload.group, payload.edge_node)
            node = self._nodes.get(key)
            if node is None:
                node = self._nodes[key] = _SparkplugNode(EdgeNode(*key), {})
            for metric in payload.metrics:
                node.tags[(payload.device, metric.name)] = metric.tag
                if metric.writable:
                    kind = MessageType.NCMD if payload.device is None else MessageType.DCMD
                    topic = str(Topic(payload.group, kind, payload.edge_node, payload.device))
                    self._commands[metric.tag] = _Command(
                        topic, sparkplug=(node, payload.device, metric.name)
                    )
            return
        json_tags: tuple[_JsonTag, ...] = ()
        if isinstance(payload, JsonPayload):
            json_tags = tuple(
                _JsonTag(
                    tag.name,
                    parse_path(tag.path),
                    parse_path(tag.timestamp_path) if tag.timestamp_path else None,
                )
                for tag in payload.tags
            )
            for tag in payload.tags:
                if tag.command_topic is not None:
                    self._commands[tag.name] = _Command(tag.command_topic)
        elif payload.tag is not None and payload.command_topic is not None:
            self._commands[payload.tag] = _Command(payload.command_topic, plain=payload)
        self._routes.append(_Route(subscription.filter, payload, json_tags))

    @property
    def dropped(self) -> int:
        return self._dropped_before + (self._inbox.dropped if self._inbox is not None else 0)

    def tags(self) -> list[str]:
        """Tags named in the config, then tags of wildcard plain subscriptions seen so far."""
        return self._static_tags + list(self._dynamic_tags)

    # --- connection -----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._client is not None:
            raise RuntimeError(f"source {self.name} is already open")
        config = self._config
        loop = asyncio.get_running_loop()
        password = self._password()
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=MQTTv5,
            reconnect_on_failure=False,  # reconnects are the supervisor's job
        )
        client.connect_timeout = config.timeout
        if config.tls is not None:
            client.tls_set(
                ca_certs=_str(config.tls.ca_file),
                certfile=_str(config.tls.cert_file),
                keyfile=_str(config.tls.key_file),
            )
            client.tls_insecure_set(config.tls.insecure)
        if config.username is not None:
            client.username_pw_set(config.username, password)
        if config.status_topic is not None:
            client.will_set(config.status_topic, b"offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        self._loop = loop
        self._inbox = _Inbox(loop, config.max_queued)
        self._connack = loop.create_future()
        self._client = client
        try:
            await self._connect(client)
        except BaseException:
            await self._shutdown(client)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        client = self._client
        if client is None:
            return
        if self._config.status_topic is not None and client.is_connected():
            try:
                await self._publish(self._config.status_topic, b"offline", qos=1, retain=True)
            except (ConnectError, ReadTimeout, WriteRefused) as error:
                log.debug("%s: could not publish offline status: %s", self.name, error)
        await self._shutdown(client)

    def _password(self) -> str | None:
        path = self._config.password_file
        if path is None:
            return None
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConnectError(f"{self.name}: cannot read password_file {path}: {exc}") from exc

    async def _connect(self, client: Client) -> None:
        config = self._config
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 0 if config.clean_start else int(config.session_expiry)
        where = f"{config.host}:{config.port}"
        try:
            await asyncio.to_thread(
                client.connect,
                config.host,
                config.port,
                keepalive=int(config.keepalive),
                clean_start=config.clean_start,
                properties=properties,
            )
        except (OSError, ValueError) as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError)
            raise ConnectError(f"{self.name}: cannot connect to {where}: {exc}") from exc
        sock = client.socket()
        if isinstance(sock, socket.socket):
            # Without it small messages wait for delayed ACKs: p99.9 33 ms instead of 1.4 ms.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.loop_start()
        assert self._connack is not None
        try:
            reason = await asyncio.wait_for(self._connack, config.timeout)
        except TimeoutError:
            raise ConnectError(
                f"{self.name}: {where} sent no CONNACK in {config.timeout}s"
            ) from None
        if reason.is_failure:
            raise ConnectError(f"{self.name}: {where} refused the connection: {reason}")
        await self._subscribe(client)
        if config.status_topic is not None:
            await self._publish(config.status_topic, b"online", qos=1, retain=True)
        log.debug("%s: connected to %s as %s", self.name, where, config.client_id)

    async def _subscribe(self, client: Client) -> None:
        wanted: dict[str, int] = {}
        for subscription in self._config.subscriptions:
            topic = subscription.filter
            wanted[topic] = max(wanted.get(topic, 0), subscription.qos)
        result, mid = client.subscribe(
            [(topic, SubscribeOptions(qos=qos)) for topic, qos in wanted.items()]
        )
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectError(f"{self.name}: cannot subscribe: {error_string(result)}")
        codes: list[ReasonCode] = await self._settled(mid, "SUBACK")
        for topic, code in zip(wanted, codes, strict=False):
            if code.is_failure:
                raise DeviceError(
                    f"{self.name}: the broker refused the subscription {topic}: {code}"
                )

    async def _shutdown(self, client: Client) -> None:
        client.disconnect()
        # loop_stop joins the network thread: off the event loop.
        await asyncio.to_thread(client.loop_stop)
        self._lost("closed")
        if self._inbox is not None:
            self._dropped_before += self._inbox.dropped
        self._client = None
        self._inbox = None
        self._connack = None

    # --- paho callbacks (network thread): hand over to the loop, nothing else -------------------

    def _on_connect(
        self,
        client: Client,
        userdata: Any,
        flags: ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._loop is not None:
            _call_soon(self._loop, self._connected, reason)

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._loop is not None:
            _call_soon(self._loop, self._lost, f"connection lost: {reason}")

    def _on_message(self, client: Client, userdata: Any, message: MQTTMessage) -> None:
        inbox = self._inbox
        if inbox is not None:
            inbox.put((message.topic, bytes(message.payload), self._clock()))

    def _on_subscribe(
        self,
        client: Client,
        userdata: Any,
        mid: int,
        codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if self._loop is not None:
            _call_soon(self._loop, self._settle, mid, codes)

    def _on_publish(
        self,
        client: Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._loop is not None:
            _call_soon(self._loop, self._settle, mid, reason)

    # --- event loop side ------------------------------------------------------------------------

    def _connected(self, reason: ReasonCode) -> None:
        if self._connack is not None and not self._connack.done():
            self._connack.set_result(reason)

    def _lost(self, reason: str) -> None:
        error = ConnectError(f"{self.name}: {reason}")
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(error)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        if self._inbox is not None:
            self._inbox.close(str(error))

    def _settle(self, mid: int, result: object) -> None:
        future = self._pending.get(mid)
        if future is not None and not future.done():
            future.set_result(result)

    async def _settled(self, mid: int, what: str) -> Any:
        """Wait for the acknowledgement of ``mid``. The callback reaches the loop only after the
        caller registered the future: it runs on this loop, which is busy with us until we await.
        """
        assert self._loop is not None
        future = self._pending[mid] = self._loop.create_future()
        try:
            return await asyncio.wait_for(future, self._config.timeout)
        except TimeoutError:
            raise ReadTimeout(f"{self.name}: no {what} within {self._config.timeout}s") from None
        finally:
            del self._pending[mid]

    async def _publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> None:
        """Publish and wait until the broker acknowledged it (QoS 1) or it was sent (QoS 0)."""
        info = self._send(topic, payload, qos=qos, retain=retain)
        reason = await self._settled(info.mid, "PUBACK")
        if isinstance(reason, ReasonCode) and reason.is_failure:
            raise WriteRefused(f"{self.name}: the broker refused the message to {topic}: {reason}")

    def _send(
        self, topic: str, payload: bytes, *, qos: int, retain: bool = False
    ) -> MQTTMessageInfo:
        client = self._client
        if client is None or not client.is_connected():
            raise ConnectError(f"{self.name}: not connected")
        info = client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectError(f"{self.name}: cannot publish to {topic}: {error_string(info.rc)}")
        return info

    # --- reading --------------------------------------------------------------------------------

    async def scans(self) -> AsyncGenerator[list[Reading], None]:
        """A batch of readings per burst of messages, in arrival order.

        Raises:
            ConnectError: The connection was lost (after the messages received before that).
        """
        inbox = self._inbox
        if inbox is None:
            raise ConnectError(f"{self.name}: not connected")
        while True:
            messages = await inbox.take()
            readings: list[Reading] = []
            for topic, payload, received in messages:
                self._decode(topic, payload, received, readings)
            if inbox.dropped and not self._drop_logged:
                self._drop_logged = True  # the count keeps the rest; one line is enough
                log.warning(
                    "%s: inbox full (max_queued=%s): dropping the oldest messages",
                    self.name,
                    self._config.max_queued,
                )
            if readings:
                yield readings

    def _decode(self, topic: str, payload: bytes, received: datetime, out: list[Reading]) -> None:
        for route in self._routes_for(topic):
            try:
                if route.json_tags:
                    self._decode_json(route, payload, received, out)
                else:
                    self._decode_plain(route, topic, payload, received, out)
            except PayloadError as exc:
                self._garbled(topic, str(exc))
        if self._nodes and topic.startswith("spBv1.0/"):
            try:
                self._decode_sparkplug(topic, payload, received, out)
            except SparkplugError as exc:
                self._garbled(topic, str(exc))

    def _routes_for(self, topic: str) -> tuple[_Route, ...]:
        routes = self._route_cache.get(topic)
        if routes is None:
            if len(self._route_cache) >= _ROUTE_CACHE_LIMIT:
                self._route_cache.clear()
            routes = tuple(r for r in self._routes if topic_matches_sub(r.filter, topic))
            self._route_cache[topic] = routes
        return routes

    def _garbled(self, topic: str, reason: str) -> None:
        count = self.garbled.get(topic, 0) + 1
        self.garbled[topic] = count
        if count == 1:  # one line per topic, not one per message
            log.warning(
                "%s: garbled payload on %s (skipped, counted): %s", self.name, topic, reason
            )

    def _decode_plain(
        self, route: _Route, topic: str, payload: bytes, received: datetime, out: list[Reading]
    ) -> None:
        plain = route.payload
        assert isinstance(plain, PlainPayload)
        tag = plain.tag
        if tag is None:
            tag = (plain.tag_prefix or "") + topic
            if not _TAG_NAME.match(tag):
                raise PayloadError(f"topic does not make a valid tag name: {tag!r}")
            self._dynamic_tags.setdefault(tag)
        value = decode_plain(payload, plain.type)
        out.append(Reading(tag, value, Quality.GOOD, received, received))

    def _decode_json(
        self, route: _Route, payload: bytes, received: datetime, out: list[Reading]
    ) -> None:
        document = load_json(payload)
        for tag in route.json_tags:
            raw = extract(document, tag.path)
            if raw is MISSING:
                continue  # not in this message: devices often send only what changed
            source_time, context = received, dict[str, Scalar]()
            if tag.stamp is not None:
                stamp = extract(document, tag.stamp)
                if stamp is not MISSING:
                    try:
                        source_time = parse_timestamp(stamp)
                    except PayloadError as exc:
                        context["timestamp"] = str(exc)
            try:
                value = json_scalar(raw, tag.path)
            except PayloadError as exc:
                out.append(_bad(tag.name, received, str(exc)))
                continue
            if value is None:
                out.append(_bad(tag.name, received, "null"))
                continue
            out.append(Reading(tag.name, value, Quality.GOOD, source_time, received, context))

    def _decode_sparkplug(
        self, topic: str, data: bytes, received: datetime, out: list[Reading]
    ) -> None:
        parsed = parse_topic(topic)
        if parsed is None:
            return  # STATE and other namespace topics carry no tag values
        node = self._nodes.get((parsed.group, parsed.edge_node))
        if node is None:
            return
        assert self._loop is not None
        update = node.tracker.handle(
            parsed.type, parsed.device, decode_payload(data), self._loop.time()
        )
        for metric in update.values:
            tag = node.tags.get((metric.device, metric.name))
            if tag is None:
                continue
            if metric.error is not None:
                out.append(_bad(tag, received, metric.error))
                continue
            stamp = _from_ms(metric.timestamp, received)
            out.append(Reading(tag, metric.value, Quality.GOOD, stamp, received))
        if update.died is not None:
            (device,) = update.died
            reason = f"sparkplug {'NDEATH' if device is None else 'DDEATH'}"
            for (owner, _), tag in node.tags.items():
                if device is None or owner == device:
                    out.append(_bad(tag, received, reason))
            log.info("%s: %s/%s %s", self.name, parsed.edge_node, device or "", reason)
        if update.rebirth is not None:
            self._ask_rebirth(node, update.rebirth)

    def _ask_rebirth(self, node: _SparkplugNode, reason: str) -> None:
        tracker = node.tracker
        topic = str(Topic(tracker.group, MessageType.NCMD, tracker.edge_node))
        log.info("%s: asking %s for a rebirth: %s", self.name, tracker.edge_node, reason)
        try:
            self._send(topic, rebirth_command(_now_ms()), qos=0)  # QoS 0 as the spec says
        except ConnectError as exc:
            log.debug("%s: rebirth request not sent: %s", self.name, exc)
            return
        self.rebirths += 1

    # --- writing --------------------------------------------------------------------------------

    async def write(self, tag: str, value: Scalar) -> None:
        """Publish a value to the tag's command topic and wait for the broker to take it.

        Plain tags publish the value as text, JSON tags ``{"value": ...}``, Sparkplug metrics an
        NCMD/DCMD with the metric (datatype from the last birth, else from the value).

        Raises:
            WriteRefused: The tag has no command topic, or the value does not fit it.
            ConnectError: Not connected.
            ReadTimeout: The broker did not acknowledge in time.
        """
        command = self._commands.get(tag)
        if command is None:
            raise WriteRefused(f"{self.name}: tag {tag!r} is not writable")
        try:
            if command.plain is not None:
                payload = encode_plain(value, command.plain.type)
                qos = 1
            elif command.sparkplug is not None:
                payload = _sparkplug_command(*command.sparkplug, value)
                qos = 0  # the spec's QoS for commands
            else:
                payload = json.dumps({"value": value}, allow_nan=False).encode()
                qos = 1
        except (ValueError, SparkplugError) as exc:
            raise WriteRefused(f"{self.name}: {tag}: {exc}") from exc
        await self._publish(command.topic, payload, qos=qos)


def _sparkplug_command(node: _SparkplugNode, device: str | None, name: str, value: Scalar) -> bytes:
    datatype = node.tracker.datatype(device, name)
    if datatype is None:
        datatype = datatype_for(value)
    if not isinstance(datatype, DataType):
        raise SparkplugError(f"metric {name} has datatype {datatype}, which cannot be written")
    now = _now_ms()
    metric = Metric(name=name, timestamp=now, datatype=datatype, value=value)
    return encode_payload(Payload(timestamp=now, metrics=(metric,)))


def _bad(tag: str, now: datetime, reason: str) -> Reading:
    return Reading(tag, None, Quality.BAD, now, now, {"reason": reason})


def _from_ms(stamp: int | None, fallback: datetime) -> datetime:
    if stamp is None:
        return fallback
    try:
        return datetime.fromtimestamp(stamp / 1000.0, UTC)
    except (OverflowError, OSError, ValueError):
        return fallback


def _now_ms() -> int:
    return int(utc_now().timestamp() * 1000)


def _str(path: object) -> str | None:
    return str(path) if path is not None else None
