"""OPC UA client adapter: subscription and poll groups become readings; approved writes go back.

The only module (with ``opcua_browse``, ``opcua_cert`` and the simulator) that imports asyncua.

Subscriptions use asyncua's raw session service (``uaclient.create_subscription`` with our own
publish callback) instead of its high-level ``Subscription``: that one starts a task per value
change when given a handler, and silently drops the oldest items of its iterator queue. Our
callback turns each publish response into one batch of readings and puts it in a bounded inbox
(``max_queued`` batches); when the inbox is full the OLDEST batch is dropped and its readings are
counted in ``dropped`` (the newest value of a tag is worth more than an old one). Nothing blocks
the publish loop, which also carries the keep-alives.

asyncua's own reconnect is off (``auto_reconnect=False``): its connection supervisor notices a
dropped socket at once (and a silent server within ``watchdog / 2`` by a probe read) and calls
our ``connection_lost_callback``, which closes the inbox, so ``scans()`` raises ``ConnectError``
after the readings received before the loss. A subscription that sends neither data nor a
keep-alive for ``watchdog`` seconds also ends ``scans()`` with ``ConnectError``. The agent's
supervisor then leaves the context (the client, its session and subscriptions are closed; late
notifications are ignored, so a rebuilt source never duplicates values) and connects again.

A percent deadband is also applied here, per tag, against the variable's EURange (servers often
ignore or refuse it: ``protocols.opcua_deadband``); a tag whose variable has no EURange is not
monitored and gets one bad reading that says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import security_policies
from asyncua.crypto.uacrypto import CertProperties
from asyncua.ua import status_codes
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.uaerrors import UaError, UaStatusCodeError
from cryptography import x509

from protocols.base import (
    ConnectError,
    DeviceError,
    ProtocolError,
    Reading,
    ReadTimeout,
    WriteRefused,
)
from protocols.opcua_config import OpcUaGroup, OpcUaSecurity, OpcUaSource
from protocols.opcua_deadband import REFUSED_FILTER_STATUS, PercentDeadband, percent_widths
from protocols.wire import Quality, Scalar, utc_now

log = logging.getLogger(__name__)

APPLICATION_URI = "urn:floorgate:agent"
"""Announced when no client certificate names another URI."""
_SESSION_TIMEOUT_MS = 120_000  # the server frees a dead agent's session after 2 minutes
_MAX_PER_REQUEST = 500  # nodes per Read / CreateMonitoredItems, below common server limits
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)  # older stamps mean "not set" (e.g. 1601-01-01)
_PLAIN = (float, int, str, bool)
_T = TypeVar("_T")

# Service results that mean the session or channel is gone rather than a device problem.
_CONNECTION_STATUS = {
    "BadCommunicationError",
    "BadConnectionClosed",
    "BadConnectionRejected",
    "BadDisconnect",
    "BadNotConnected",
    "BadSecureChannelClosed",
    "BadSecureChannelIdInvalid",
    "BadServerHalted",
    "BadServerNotConnected",
    "BadSessionClosed",
    "BadSessionIdInvalid",
    "BadSessionNotActivated",
    "BadShutdown",
    "BadTcpInternalError",
}

# DataType attribute (ns=0) of common subtypes -> the built-in type their values travel as.
_SUBTYPES = {
    ObjectIds.Duration: ua.VariantType.Double,
    ObjectIds.UtcTime: ua.VariantType.DateTime,
    ObjectIds.Enumeration: ua.VariantType.Int32,
    ObjectIds.LocaleId: ua.VariantType.String,
    ObjectIds.NumericRange: ua.VariantType.String,
    ObjectIds.IntegerId: ua.VariantType.UInt32,
    ObjectIds.Counter: ua.VariantType.UInt32,
}
_INT_RANGES = {
    ua.VariantType.SByte: (-(2**7), 2**7 - 1),
    ua.VariantType.Byte: (0, 2**8 - 1),
    ua.VariantType.Int16: (-(2**15), 2**15 - 1),
    ua.VariantType.UInt16: (0, 2**16 - 1),
    ua.VariantType.Int32: (-(2**31), 2**31 - 1),
    ua.VariantType.UInt32: (0, 2**32 - 1),
    ua.VariantType.Int64: (-(2**63), 2**63 - 1),
    ua.VariantType.UInt64: (0, 2**64 - 1),
}


# --- connecting ----------------------------------------------------------------------------------


async def connect_client(
    endpoint: str,
    *,
    label: str,
    security: OpcUaSecurity | None = None,
    username: str | None = None,
    password: str | None = None,
    request_timeout: float = 5.0,
    watchdog: float = 10.0,
) -> Client:
    """Open a session on ``endpoint``; shared by the adapter and ``browse``.

    Args:
        endpoint: ``opc.tcp://host:port[/path]``.
        label: Names the source in error messages.
        security: The secure channel; ``None`` means policy None.
        username: User token; anonymous when ``None``.
        password: The user's password.
        request_timeout: Bounds each request; the whole handshake gets twice as long.
        watchdog: The client probes a quiet server every ``watchdog / 2`` seconds.

    Returns:
        A connected asyncua client without auto-reconnect; close it with ``close_client``.

    Raises:
        ConnectError: Unreachable, refused (security, user) or unreadable certificate files.
    """
    client = Client(endpoint, timeout=request_timeout, watchdog_intervall=max(0.5, watchdog / 2))
    client.name = client.description = "Floorgate edge agent"
    client.application_uri = APPLICATION_URI
    client.session_timeout = _SESSION_TIMEOUT_MS
    try:
        async with asyncio.timeout(2 * request_timeout):
            if security is not None and security.mode != "None":
                await _apply_security(client, security, label)
            if username is not None:
                client.set_user(username)
                if password is not None:
                    client.set_password(password)
            await client.connect()
    except ProtocolError:
        await close_client(client, request_timeout)
        raise
    except TimeoutError as exc:
        await close_client(client, request_timeout)
        raise ConnectError(
            f"{label}: no answer from {endpoint} within {2 * request_timeout}s"
        ) from exc
    except (OSError, UaError, ValueError) as exc:
        await close_client(client, request_timeout)
        raise ConnectError(f"{label}: cannot connect to {endpoint}: {_describe(exc)}") from exc
    return client


async def close_client(client: Client, grace: float) -> None:
    """Close session, channel and socket; never raises (the peer may already be gone)."""
    client.connection_lost_callback = None
    try:
        async with asyncio.timeout(grace):
            await client.disconnect()
    except (TimeoutError, OSError, UaError) as exc:
        log.debug("closing %s: %s", client, exc)
    finally:
        client.disconnect_socket()


async def _apply_security(client: Client, security: OpcUaSecurity, label: str) -> None:
    assert security.certificate is not None and security.private_key is not None  # config check
    cert = _read_file(security.certificate, label)
    key = _read_file(security.private_key, label)
    server = _read_file(security.server_certificate, label) if security.server_certificate else None
    uri = application_uri(cert)
    if uri is None:
        raise ConnectError(f"{label}: {security.certificate} has no URI SubjectAltName")
    client.application_uri = uri  # must match the certificate or the server refuses the session
    mode = (
        ua.MessageSecurityMode.Sign
        if security.mode == "Sign"
        else ua.MessageSecurityMode.SignAndEncrypt
    )
    await client.set_security(
        security_policies.SecurityPolicyBasic256Sha256,
        CertProperties(cert, _format(cert)),
        CertProperties(key, _format(key)),
        server_certificate=CertProperties(server, _format(server)) if server else None,
        mode=mode,
    )


def application_uri(certificate: bytes) -> str | None:
    """The URI SubjectAltName of a DER or PEM certificate (the OPC UA application URI)."""
    try:
        if _format(certificate) == "pem":
            cert = x509.load_pem_x509_certificate(certificate)
        else:
            cert = x509.load_der_x509_certificate(certificate)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (ValueError, x509.ExtensionNotFound):
        return None
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def _format(content: bytes) -> str:
    return "pem" if content.lstrip().startswith(b"-----BEGIN") else "der"


def _read_file(path: Path, label: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConnectError(f"{label}: cannot read {path}: {exc}") from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, UaStatusCodeError):
        return ua.StatusCode(exc.code).name
    return str(exc) or type(exc).__name__


# --- values --------------------------------------------------------------------------------------


def to_scalar(value: Any) -> Scalar:
    """An OPC UA value as a wire scalar.

    Raises:
        ValueError: Arrays, structures and other values without a scalar form.
    """
    if value is None or type(value) in _PLAIN:
        return value  # type: ignore[no-any-return]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):  # IntEnum and friends
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, ua.LocalizedText):
        return value.Text
    if isinstance(value, (ua.QualifiedName, ua.NodeId)):
        return value.to_string()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, ua.StatusCode):
        return value.name
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    raise ValueError(f"unsupported value type {type(value).__name__}")


def to_variant(value: Scalar, variant_type: ua.VariantType) -> ua.Variant:
    """A wire scalar as a variant of the node's type; refuses lossy or ambiguous conversions.

    Raises:
        ValueError: The value does not fit the type (wrong kind, out of range, fractional).
    """
    if value is None:
        raise ValueError("cannot write an empty value")
    kind = variant_type
    if kind is ua.VariantType.Boolean:
        if not isinstance(value, bool):
            raise ValueError(f"takes true or false, not {value!r}")
        return ua.Variant(value, kind)
    if kind in _INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"takes an integer ({kind.name}), not {value!r}")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"takes an integer ({kind.name}), not {value!r}")
        low, high = _INT_RANGES[kind]
        if not low <= value <= high:
            raise ValueError(f"{value!r} is out of range for {kind.name} ({low}..{high})")
        return ua.Variant(int(value), kind)
    if kind in (ua.VariantType.Float, ua.VariantType.Double):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"takes a number ({kind.name}), not {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"takes a finite number, not {value!r}")
        return ua.Variant(float(value), kind)
    if kind is ua.VariantType.String:
        if not isinstance(value, str):
            raise ValueError(f"takes text, not {value!r}")
        return ua.Variant(value, kind)
    if kind is ua.VariantType.DateTime:
        if not isinstance(value, str):
            raise ValueError(f"takes an ISO-8601 time, not {value!r}")
        stamp = datetime.fromisoformat(value)
        return ua.Variant(stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC), kind)
    raise ValueError(f"writing {kind.name} values is not supported")


def variant_type_of(data_type: ua.NodeId) -> ua.VariantType | None:
    """The built-in type a DataType attribute stands for; ``None`` for custom types."""
    if data_type.NamespaceIndex != 0 or not isinstance(data_type.Identifier, int):
        return None
    identifier = data_type.Identifier
    if 1 <= identifier <= 25:  # the built-in types share their ids with VariantType
        return ua.VariantType(identifier)
    return _SUBTYPES.get(identifier)


def status_name(code: int) -> str:
    return str(status_codes.get_name_and_doc(code)[0])


def make_reading(tag: str, data: ua.DataValue, received: datetime) -> Reading:
    """One reading from a DataValue.

    Quality follows the StatusCode's severity (Good/Uncertain/Bad); a status other than plain
    Good is named in ``context["status"]``. A bad value is ``None``; a value without a scalar
    form (array, structure) or a null value is bad with ``context["reason"]``. The source time is
    the SourceTimestamp, else the ServerTimestamp, else ``received``.
    """
    status = data.StatusCode
    code = status.value if status is not None else 0
    stamp = data.SourceTimestamp or data.ServerTimestamp
    source_time = stamp if stamp is not None and stamp > _EARLIEST else received
    raw = data.Value.Value if data.Value is not None else None
    if code == 0 and type(raw) in _PLAIN:  # the common case, kept short
        return Reading(tag, raw, Quality.GOOD, source_time, received)
    context: dict[str, Scalar] = {"status": status_name(code)} if code else {}
    severity = code >> 30
    if severity >= 2:
        return Reading(tag, None, Quality.BAD, source_time, received, context)
    try:
        value = to_scalar(raw)
    except ValueError as exc:
        context["reason"] = str(exc)
        return Reading(tag, None, Quality.BAD, source_time, received, context)
    if value is None:
        context["reason"] = "null value"
        return Reading(tag, None, Quality.BAD, source_time, received, context)
    quality = Quality.GOOD if severity == 0 else Quality.UNCERTAIN
    return Reading(tag, value, quality, source_time, received, context)


# --- the adapter ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tag:
    name: str
    node: str
    """As configured."""
    writable: bool
    handle: int
    """Client handle of its monitored item and index in ``OpcUa._tags``."""
    node_id: ua.NodeId | None = None
    variant_type: ua.VariantType | None = None
    deadband: PercentDeadband | None = None
    """The agent-side percent deadband of a subscribed tag (rebuilt with each subscription)."""


@dataclass(slots=True)
class _Poll:
    due: float
    group: OpcUaGroup
    members: list[_Tag]


@dataclass(slots=True)
class _Subscription:
    group: int
    silence_limit: float
    """Seconds without a publish response (data or keep-alive) before the source is lost."""
    last_publish: float
    subscription_id: int = 0


_CLOSED = object()


class _Inbox:
    """Notification batches from asyncua's publish loop to ``scans()`` (same event loop).

    Bounded at ``limit`` batches: a full inbox drops its OLDEST batch and counts the readings in
    ``dropped``; ``put`` never blocks. The queue has one slot more than ``limit`` so the closing
    marker always fits.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._queue: asyncio.Queue[list[Reading] | object] = asyncio.Queue(maxsize=limit + 1)
        self._closed: str | None = None
        self.dropped = 0

    @property
    def closed(self) -> str | None:
        return self._closed

    def put(self, batch: list[Reading]) -> None:
        if self._closed is not None:
            return  # after a loss or close: late notifications must not reach a reader
        queue = self._queue
        if queue.qsize() >= self._limit:
            oldest = queue.get_nowait()
            assert isinstance(oldest, list)
            self.dropped += len(oldest)
        queue.put_nowait(batch)

    def close(self, reason: str) -> None:
        if self._closed is None:
            self._closed = reason
            self._queue.put_nowait(_CLOSED)

    async def take(self, wait: float) -> list[Reading] | None:
        """Every queued reading, waiting up to ``wait`` seconds for the first batch.

        Returns:
            The readings, or ``None`` when nothing came in time.

        Raises:
            ConnectError: Closed, and every batch received before was taken.
        """
        queue = self._queue
        if queue.empty() and self._closed is not None:
            raise ConnectError(self._closed)
        try:
            async with asyncio.timeout(wait):
                item = await queue.get()
        except TimeoutError:
            return None
        readings: list[Reading] = []
        while item is not _CLOSED:
            assert isinstance(item, list)
            readings.extend(item)
            if queue.empty():
                break
            item = queue.get_nowait()
        if not readings and self._closed is not None:
            raise ConnectError(self._closed)
        return readings


class OpcUa:
    """An OPC UA server and the subscription and poll groups of one source.

    Args:
        config: Endpoint, security, user and groups.
        clock: Returns the current UTC time (receive time of values); tests pass their own.

    Attributes:
        dropped: Readings dropped from the full inbox (oldest first), over this object's life.
    """

    def __init__(self, config: OpcUaSource, clock: Callable[[], datetime] = utc_now) -> None:
        self.name = config.name
        self._config = config
        self._clock = clock
        self._tags: list[_Tag] = []
        self._groups: list[tuple[OpcUaGroup, list[_Tag]]] = []
        for group in config.groups:
            members = []
            for tag in group.tags:
                spec = _Tag(tag.name, tag.node, tag.writable, handle=len(self._tags))
                self._tags.append(spec)
                members.append(spec)
            self._groups.append((group, members))
        self._by_name = {tag.name: tag for tag in self._tags}
        self._client: Client | None = None
        self._inbox: _Inbox | None = None
        self._subscriptions: list[_Subscription] = []
        self._dropped_before = 0
        self._drop_logged = False

    @property
    def dropped(self) -> int:
        return self._dropped_before + (self._inbox.dropped if self._inbox is not None else 0)

    def tags(self) -> list[str]:
        return [tag.name for tag in self._tags]

    # --- connection -----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._client is not None:
            raise RuntimeError(f"source {self.name} is already open")
        config = self._config
        client = await connect_client(
            config.endpoint,
            label=self.name,
            security=config.security,
            username=config.username,
            password=self._password(),
            request_timeout=config.timeout,
            watchdog=config.watchdog,
        )
        self._client = client
        self._inbox = _Inbox(config.max_queued)
        client.connection_lost_callback = self._connection_lost
        try:
            with self._boundary("resolving nodes"):
                await self._resolve(client)
            with self._boundary("creating subscriptions"):
                for index, (group, members) in enumerate(self._groups):
                    if group.mode == "subscribe":
                        await self._subscribe(client, index, group, members)
        except BaseException:
            await self._shutdown()
            raise
        log.debug("%s: connected to %s", self.name, config.endpoint)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._shutdown()

    async def _shutdown(self) -> None:
        client, self._client = self._client, None
        inbox, self._inbox = self._inbox, None
        if inbox is not None:
            inbox.close(f"{self.name}: closed")
            self._dropped_before += inbox.dropped
        self._subscriptions = []
        if client is not None:
            await close_client(client, self._config.timeout)

    def _password(self) -> str | None:
        path = self._config.password_file
        if path is None:
            return None
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConnectError(f"{self.name}: cannot read password_file {path}: {exc}") from exc

    async def _connection_lost(self, exc: Exception) -> None:
        """asyncua's supervisor: the socket dropped or the server stopped answering probes."""
        if self._inbox is not None:
            self._inbox.close(f"{self.name}: connection lost: {_describe(exc)}")

    @contextlib.contextmanager
    def _boundary(self, what: str) -> Iterator[None]:
        """Translate asyncua's exceptions into ours (chained)."""
        try:
            yield
        except ProtocolError:
            raise
        except TimeoutError as exc:
            raise ReadTimeout(
                f"{self.name}: {what}: no answer within {self._config.timeout}s"
            ) from exc
        except OSError as exc:  # ConnectionError included
            raise ConnectError(f"{self.name}: {what}: connection lost: {exc}") from exc
        except UaStatusCodeError as exc:
            name = ua.StatusCode(exc.code).name
            error = ConnectError if name in _CONNECTION_STATUS else DeviceError
            raise error(f"{self.name}: {what}: {name}") from exc
        except UaError as exc:
            raise DeviceError(f"{self.name}: {what}: {exc}") from exc

    # --- resolving ------------------------------------------------------------------------------

    async def _resolve(self, client: Client) -> None:
        """Turn every configured node into a NodeId and learn the data type of each.

        Raises:
            ConnectError: A node does not exist or is not a variable (the message names the tag).
        """
        namespaces: list[str] | None = None
        paths: list[_Tag] = []
        for tag in self._tags:
            if tag.node.startswith("/"):
                paths.append(tag)
                continue
            node_id = ua.NodeId.from_string(tag.node)
            if isinstance(node_id, ua.ExpandedNodeId) and node_id.NamespaceUri:
                if namespaces is None:
                    namespaces = await client.get_namespace_array()
                if node_id.NamespaceUri not in namespaces:
                    raise self._unresolved(
                        tag, f"namespace {node_id.NamespaceUri} is not on the server"
                    )
                index = namespaces.index(node_id.NamespaceUri)
                node_id = ua.NodeId(node_id.Identifier, ua.Int16(index), node_id.NodeIdType)
            tag.node_id = node_id
        for chunk in _chunks(paths):
            results = await client.uaclient.translate_browsepaths_to_nodeids(
                [
                    ua.BrowsePath(
                        StartingNode=_ns0(ObjectIds.RootFolder), RelativePath=_path(t.node)
                    )
                    for t in chunk
                ]
            )
            for tag, result in zip(chunk, results, strict=True):
                if not result.StatusCode.is_good() or not result.Targets:
                    raise self._unresolved(tag, result.StatusCode.name)
                target = result.Targets[0].TargetId
                tag.node_id = ua.NodeId(target.Identifier, target.NamespaceIndex, target.NodeIdType)
        untyped: list[_Tag] = []
        for chunk in _chunks(self._tags):
            types = await self._read(client, [t.node_id for t in chunk], AttributeIds.DataType)
            for tag, data in zip(chunk, types, strict=True):
                status = data.StatusCode
                if status is not None and not status.is_good():
                    raise self._unresolved(tag, status.name)
                data_type = data.Value.Value if data.Value is not None else None
                if isinstance(data_type, ua.NodeId):
                    tag.variant_type = variant_type_of(data_type)
                if tag.variant_type is None and tag.writable:
                    untyped.append(tag)
        for chunk in _chunks(untyped):  # custom types: write what the node holds now
            values = await self._read(client, [t.node_id for t in chunk], AttributeIds.Value)
            for tag, data in zip(chunk, values, strict=True):
                if data.Value is not None and data.Value.VariantType is not ua.VariantType.Null:
                    tag.variant_type = data.Value.VariantType

    def _unresolved(self, tag: _Tag, reason: str) -> ConnectError:
        return ConnectError(f"{self.name}: tag {tag.name}: node {tag.node} not found ({reason})")

    @staticmethod
    async def _read(
        client: Client, nodes: Sequence[ua.NodeId | None], attribute: AttributeIds
    ) -> list[ua.DataValue]:
        params = ua.ReadParameters(
            MaxAge=0,  # from the device, not a cache
            TimestampsToReturn=ua.TimestampsToReturn.Both,
            NodesToRead=[ua.ReadValueId(NodeId=node, AttributeId=attribute) for node in nodes],
        )
        result: list[ua.DataValue] = await client.uaclient.read(params)
        return result

    # --- subscribing ----------------------------------------------------------------------------

    async def _subscribe(
        self, client: Client, index: int, group: OpcUaGroup, members: list[_Tag]
    ) -> None:
        config = self._config
        loop = asyncio.get_running_loop()
        interval_ms = group.interval * 1000.0
        # About three keep-alives per watchdog period: one lost packet must not trip it.
        keep_alive = max(1, math.floor(config.watchdog / 3 / group.interval))
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=interval_ms,
            RequestedLifetimeCount=keep_alive * 10,  # the spec asks for at least 3x keep-alive
            RequestedMaxKeepAliveCount=keep_alive,
            MaxNotificationsPerPublish=0,  # no limit: the inbox is the bound
            PublishingEnabled=True,
            Priority=0,
        )
        sub = _Subscription(index, config.watchdog, loop.time())
        inbox = self._inbox
        assert inbox is not None

        def on_publish(result: ua.PublishResult) -> None:
            self._on_publish(sub, inbox, loop, result)

        created = await client.uaclient.create_subscription(params, on_publish)
        sub.subscription_id = created.SubscriptionId
        self._subscriptions.append(sub)
        keep_alive_s = created.RevisedMaxKeepAliveCount * created.RevisedPublishingInterval / 1000
        if keep_alive_s * 1.5 > config.watchdog:
            sub.silence_limit = keep_alive_s * 1.5
            log.warning(
                "%s: group %s: the server sends keep-alives every %.1fs; watchdog raised to %.1fs",
                self.name,
                index,
                keep_alive_s,
                sub.silence_limit,
            )
        data_filter: ua.DataChangeFilter | None = None
        if group.deadband is not None:
            data_filter = ua.DataChangeFilter(
                Trigger=ua.DataChangeTrigger.StatusValue,
                DeadbandType=(
                    ua.DeadbandType.Absolute
                    if group.deadband.kind == "absolute"
                    else ua.DeadbandType.Percent
                ),
                DeadbandValue=group.deadband.value,
            )
        monitored = members
        if group.deadband is not None and group.deadband.kind == "percent":
            monitored = await self._percent_deadbands(client, members, group.deadband.value)
        refused = await self._monitor(client, created.SubscriptionId, group, monitored, data_filter)
        if refused:
            # The tags keep their agent-side deadband: only the server's copy of it is gone.
            log.warning(
                "%s: group %s: the server refused the percent deadband on %s tags (%s): "
                "the agent applies it alone",
                self.name,
                index,
                len(refused),
                ", ".join(sorted(set(refused.values()))),
            )
            fallback = [tag for tag in monitored if tag.name in refused]
            await self._monitor(client, created.SubscriptionId, group, fallback, None)

    async def _percent_deadbands(
        self, client: Client, members: list[_Tag], percent: float
    ) -> list[_Tag]:
        """Give each tag its deadband width from its EURange; the tags that can be monitored.

        A tag whose variable has no usable EURange is not monitored: it gets one bad reading
        whose ``context["reason"]`` says what is missing (a config mistake must be visible on
        the tag, not stop the other tags of the source).
        """
        usable: list[_Tag] = []
        unusable: list[Reading] = []
        now = self._clock()
        for chunk in _chunks(members):
            widths = await percent_widths(client, [t.node_id for t in chunk], percent)
            for tag, width in zip(chunk, widths, strict=True):
                if isinstance(width, str):
                    tag.deadband = None
                    reason = f"node {tag.node} {width}"
                    unusable.append(
                        Reading(tag.name, None, Quality.BAD, now, now, {"reason": reason})
                    )
                    log.warning("%s: tag %s: %s", self.name, tag.name, reason)
                else:
                    tag.deadband = PercentDeadband(width)
                    usable.append(tag)
        if unusable and self._inbox is not None:
            self._inbox.put(unusable)
        return usable

    async def _monitor(
        self,
        client: Client,
        subscription_id: int,
        group: OpcUaGroup,
        members: list[_Tag],
        data_filter: ua.DataChangeFilter | None,
    ) -> dict[str, str]:
        """Create the monitored items of ``members``.

        Returns:
            Tag name -> status, for the items the server refused because of a percent deadband
            filter (the caller creates them again without it).

        Raises:
            ConnectError: The server refused an item for another reason (naming the tag).
        """
        interval_ms = group.interval * 1000.0
        percent = data_filter is not None and data_filter.DeadbandType == ua.DeadbandType.Percent
        refused: dict[str, str] = {}
        for chunk in _chunks(members):
            items = [
                ua.MonitoredItemCreateRequest(
                    ItemToMonitor=ua.ReadValueId(
                        NodeId=tag.node_id, AttributeId=AttributeIds.Value
                    ),
                    MonitoringMode=ua.MonitoringMode.Reporting,
                    RequestedParameters=ua.MonitoringParameters(
                        ClientHandle=tag.handle,
                        SamplingInterval=interval_ms,
                        Filter=data_filter,
                        QueueSize=group.queue_size,
                        DiscardOldest=True,
                    ),
                )
                for tag in chunk
            ]
            results = await client.uaclient.create_monitored_items(
                ua.CreateMonitoredItemsParameters(
                    SubscriptionId=subscription_id,
                    TimestampsToReturn=ua.TimestampsToReturn.Both,
                    ItemsToCreate=items,
                )
            )
            for tag, result in zip(chunk, results, strict=True):
                status = result.StatusCode
                if status.is_good():
                    continue
                if percent and status.name in REFUSED_FILTER_STATUS:
                    refused[tag.name] = status.name
                    continue
                raise ConnectError(
                    f"{self.name}: tag {tag.name}: node {tag.node} cannot be monitored "
                    f"({status.name})"
                )
        return refused

    def _on_publish(
        self,
        sub: _Subscription,
        inbox: _Inbox,
        loop: asyncio.AbstractEventLoop,
        result: ua.PublishResult,
    ) -> None:
        """asyncua's publish loop: one publish response (data, status or keep-alive)."""
        sub.last_publish = loop.time()
        notifications = result.NotificationMessage.NotificationData
        if not notifications or inbox.closed is not None:
            return  # a keep-alive, or late: a closed source must not move the deadband state
        received = self._clock()
        tags = self._tags
        batch: list[Reading] = []
        for notification in notifications:
            if isinstance(notification, ua.DataChangeNotification):
                for item in notification.MonitoredItems:
                    handle = item.ClientHandle
                    if 0 <= handle < len(tags):
                        tag = tags[handle]
                        reading = make_reading(tag.name, item.Value, received)
                        if tag.deadband is None or tag.deadband.passes(reading):
                            batch.append(reading)
            elif isinstance(notification, ua.StatusChangeNotification):
                status = notification.Status
                if not status.is_good():  # e.g. BadTimeout: the server ended the subscription
                    if batch:
                        inbox.put(batch)
                        batch = []
                    inbox.close(
                        f"{self.name}: subscription of group {sub.group} ended: {status.name}"
                    )
        if batch:
            inbox.put(batch)

    # --- reading --------------------------------------------------------------------------------

    async def scans(self) -> AsyncGenerator[list[Reading], None]:
        """Batches of readings: one per burst of subscription notifications, one per poll.

        A poll group is read once per ``interval``, measured from the start of each read; a read
        that overruns is followed by the next at once, never by a backlog.

        Raises:
            ConnectError: The connection was lost, or a subscription was silent for ``watchdog``
                (after the readings received before that).
            ReadTimeout: A poll read got no answer within ``timeout``.
            DeviceError: The server refused a poll read.
        """
        client, inbox = self._client, self._inbox
        if client is None or inbox is None:
            raise ConnectError(f"{self.name}: not connected")
        loop = asyncio.get_running_loop()
        polls = [
            _Poll(loop.time(), group, members)
            for group, members in self._groups
            if group.mode == "poll"
        ]
        while True:
            now = loop.time()
            for sub in self._subscriptions:
                if now - sub.last_publish > sub.silence_limit:
                    raise ConnectError(
                        f"{self.name}: no data or keep-alive from the subscription of group "
                        f"{sub.group} for {sub.silence_limit:.1f}s"
                    )
            if polls:
                poll = min(polls, key=lambda entry: entry.due)
                if poll.due <= now:
                    readings = await self._poll(client, poll.members)
                    poll.due = max(now + poll.group.interval, loop.time())
                    yield readings
                    continue
            deadline = min(
                [entry.due for entry in polls]
                + [sub.last_publish + sub.silence_limit for sub in self._subscriptions],
                default=now + 3600.0,
            )
            batch = await inbox.take(max(0.0, deadline - now) + 0.001)
            if inbox.dropped and not self._drop_logged:
                self._drop_logged = True  # the count keeps the rest; one line is enough
                log.warning(
                    "%s: inbox full (max_queued=%s): dropping the oldest notifications",
                    self.name,
                    self._config.max_queued,
                )
            if batch:
                yield batch

    async def _poll(self, client: Client, members: list[_Tag]) -> list[Reading]:
        values: list[ua.DataValue] = []
        with self._boundary("reading"):
            for chunk in _chunks(members):
                values += await self._read(client, [t.node_id for t in chunk], AttributeIds.Value)
        received = self._clock()
        return [
            make_reading(tag.name, data, received)
            for tag, data in zip(members, values, strict=True)
        ]

    # --- writing --------------------------------------------------------------------------------

    async def write(self, tag: str, value: Scalar) -> None:
        """Write one value as the node's data type; returns once the server accepted it.

        Raises:
            WriteRefused: The tag is not writable, the value does not fit the node's type, or
                the server refused (the message names the status, e.g. BadNotWritable).
            ConnectError: Not connected or the connection dropped.
            ReadTimeout: No answer within ``timeout``.
        """
        spec = self._by_name.get(tag)
        if spec is None or not spec.writable:
            raise WriteRefused(f"{self.name}: tag {tag!r} is not writable")
        client = self._client
        if client is None or spec.node_id is None:
            raise ConnectError(f"{self.name}: not connected")
        if spec.variant_type is None:
            raise WriteRefused(f"{self.name}: {tag}: the data type of {spec.node} is unknown")
        try:
            variant = to_variant(value, spec.variant_type)
        except ValueError as exc:
            raise WriteRefused(f"{self.name}: {tag}: {exc}") from exc
        # The value alone: many PLC servers refuse writes that carry a status or timestamps.
        data = ua.DataValue(Value=variant, StatusCode=None)
        params = ua.WriteParameters(
            NodesToWrite=[
                ua.WriteValue(NodeId=spec.node_id, AttributeId=AttributeIds.Value, Value=data)
            ]
        )
        with self._boundary(f"writing {tag}"):
            results = await client.uaclient.write(params)
        status = results[0]
        if not status.is_good():
            raise WriteRefused(f"{self.name}: {tag}: the server refused the write ({status.name})")


def _path(text: str) -> ua.RelativePath:
    """``/Objects/2:Press/2:Temperature`` as a RelativePath from the Root folder."""
    elements = []
    for step in text[1:].split("/"):
        index, _, name = step.partition(":") if step.split(":", 1)[0].isdigit() else ("", "", step)
        elements.append(
            ua.RelativePathElement(
                ReferenceTypeId=_ns0(ObjectIds.HierarchicalReferences),
                IsInverse=False,  # type: ignore[arg-type]  # ua.Boolean is a marker class
                IncludeSubtypes=True,  # type: ignore[arg-type]
                TargetName=ua.QualifiedName(name, ua.Int16(int(index) if index else 0)),
            )
        )
    return ua.RelativePath(Elements=elements)


def _ns0(identifier: int) -> ua.NodeId:
    return ua.NodeId(ua.Int32(identifier))


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), _MAX_PER_REQUEST):
        yield items[start : start + _MAX_PER_REQUEST]
