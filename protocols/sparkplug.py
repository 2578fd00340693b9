"""Sparkplug B: the protobuf payload, the topic namespace and per-edge-node session state. Pure.

The schema is written here from the public Eclipse Sparkplug 3.0 specification and built at
import time with ``descriptor_pb2`` into a private descriptor pool. That keeps the field numbers
readable in one place, needs no protoc run and no generated module, and does not tie us to the
protobuf major version a ``_pb2`` file was generated with. Only what an edge gateway needs is
declared: payload timestamp/metrics/seq/uuid/body and scalar metric values. DataSet, Template,
PropertySet and MetaData fields are left undeclared, so protobuf skips them as unknown fields;
a metric that carries one decodes with ``value=None`` and counts as unsupported.

The ``EdgeNode`` tracker applies the session rules of the spec: births register metric aliases
and datatypes, data messages resolve them, ``seq`` (0..255, wrapping) must rise by one per
message, and a gap, an unknown alias or data before a birth asks for a rebirth.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from functools import cache
from typing import Any, Final

from protocols.wire import Scalar

NAMESPACE: Final = "spBv1.0"
REBIRTH_METRIC: Final = "Node Control/Rebirth"
BDSEQ_METRIC: Final = "bdSeq"
SEQ_MODULUS: Final = 256

_U32: Final = 0xFFFF_FFFF
_U64: Final = 0xFFFF_FFFF_FFFF_FFFF


class SparkplugError(ValueError):
    """A payload that is not a Sparkplug B protobuf, or a value that cannot be encoded."""


class DataType(IntEnum):
    """Metric datatypes, numbered as in the spec (arrays, 22-34, are not supported)."""

    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    DATASET = 16
    BYTES = 17
    FILE = 18
    TEMPLATE = 19


_SIGNED_BITS: Final = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}
_INT_VALUE: Final = {
    DataType.INT8,
    DataType.INT16,
    DataType.INT32,
    DataType.UINT8,
    DataType.UINT16,
    DataType.UINT32,
}
_RANGES: Final = {
    **{t: (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) for t, bits in _SIGNED_BITS.items()},
    DataType.UINT8: (0, 0xFF),
    DataType.UINT16: (0, 0xFFFF),
    DataType.UINT32: (0, _U32),
    DataType.UINT64: (0, _U64),
    DataType.DATETIME: (0, _U64),
}
_STRING_VALUE: Final = {DataType.STRING, DataType.TEXT, DataType.UUID}


class MessageType(StrEnum):
    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    NDATA = "NDATA"
    DDATA = "DDATA"
    NCMD = "NCMD"
    DCMD = "DCMD"


# --- schema -------------------------------------------------------------------------------------


@cache
def _payload_class() -> Any:
    """The Payload message class, built on first use: protobuf costs about 4 MB of the agent's
    memory, which only a config with a Sparkplug subscription should pay."""
    from google.protobuf import (  # type: ignore[import-untyped]
        descriptor_pb2,
        descriptor_pool,
        message_factory,
    )

    F = descriptor_pb2.FieldDescriptorProto
    optional, repeated = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    proto = descriptor_pb2.FileDescriptorProto(
        name="floorgate/sparkplug_b.proto", package="floorgate.sparkplug_b", syntax="proto2"
    )
    payload = proto.message_type.add(name="Payload")
    metric = payload.nested_type.add(name="Metric")
    metric.oneof_decl.add(name="value")
    metric_fields = [
        ("name", 1, F.TYPE_STRING, None),
        ("alias", 2, F.TYPE_UINT64, None),
        ("timestamp", 3, F.TYPE_UINT64, None),
        ("datatype", 4, F.TYPE_UINT32, None),
        ("is_historical", 5, F.TYPE_BOOL, None),
        ("is_transient", 6, F.TYPE_BOOL, None),
        ("is_null", 7, F.TYPE_BOOL, None),
        # 8 metadata, 9 properties: not declared (skipped as unknown fields)
        ("int_value", 10, F.TYPE_UINT32, 0),
        ("long_value", 11, F.TYPE_UINT64, 0),
        ("float_value", 12, F.TYPE_FLOAT, 0),
        ("double_value", 13, F.TYPE_DOUBLE, 0),
        ("boolean_value", 14, F.TYPE_BOOL, 0),
        ("string_value", 15, F.TYPE_STRING, 0),
        ("bytes_value", 16, F.TYPE_BYTES, 0),
        # 17 dataset_value, 18 template_value, 19 extension_value: not declared
    ]
    for name, number, type_, oneof in metric_fields:
        declared = metric.field.add(name=name, number=number, type=type_, label=optional)
        if oneof is not None:
            declared.oneof_index = oneof
    payload.field.add(name="timestamp", number=1, type=F.TYPE_UINT64, label=optional)
    payload.field.add(
        name="metrics",
        number=2,
        type=F.TYPE_MESSAGE,
        label=repeated,
        type_name=".floorgate.sparkplug_b.Payload.Metric",
    )
    payload.field.add(name="seq", number=3, type=F.TYPE_UINT64, label=optional)
    payload.field.add(name="uuid", number=4, type=F.TYPE_STRING, label=optional)
    payload.field.add(name="body", number=5, type=F.TYPE_BYTES, label=optional)
    pool = descriptor_pool.DescriptorPool()  # private: never clashes with another copy
    pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("floorgate.sparkplug_b.Payload")
    )


# --- payload ------------------------------------------------------------------------------------

WireValue = bool | int | float | str | bytes | None


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric as it travels.

    Args:
        name: Required in births; data messages usually send only the alias.
        alias: The number a birth assigns to the name.
        timestamp: Epoch milliseconds, if the metric has its own.
        datatype: Required in births; data messages usually omit it (the birth's applies).
        value: On decode the raw wire value: signed integer types arrive as their unsigned
            two's complement until ``to_scalar`` applies the datatype. On encode the engineering
            value (negative ints allowed).
        is_null: The value is explicitly null.
    """

    name: str | None = None
    alias: int | None = None
    timestamp: int | None = None
    datatype: DataType | int | None = None
    value: WireValue = None
    is_null: bool = False
    is_historical: bool = False
    is_transient: bool = False


@dataclass(frozen=True, slots=True)
class Payload:
    """A Sparkplug B payload; ``seq`` is absent only in NDEATH."""

    timestamp: int | None = None
    metrics: tuple[Metric, ...] = ()
    seq: int | None = None
    uuid: str | None = None
    body: bytes | None = None


def decode_payload(data: bytes) -> Payload:
    """Parse a Sparkplug B payload.

    Raises:
        SparkplugError: The bytes are not a valid protobuf of this schema.
    """
    message = _payload_class()()
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise SparkplugError(f"not a Sparkplug B payload: {exc}") from None
    metrics = []
    for item in message.metrics:
        kind = item.WhichOneof("value")
        metrics.append(
            Metric(
                name=item.name if item.HasField("name") else None,
                alias=item.alias if item.HasField("alias") else None,
                timestamp=item.timestamp if item.HasField("timestamp") else None,
                datatype=_datatype(item.datatype) if item.HasField("datatype") else None,
                value=getattr(item, kind) if kind is not None else None,
                is_null=item.is_null,
                is_historical=item.is_historical,
                is_transient=item.is_transient,
            )
        )
    return Payload(
        timestamp=message.timestamp if message.HasField("timestamp") else None,
        metrics=tuple(metrics),
        seq=message.seq if message.HasField("seq") else None,
        uuid=message.uuid if message.HasField("uuid") else None,
        body=message.body if message.HasField("body") else None,
    )


def _datatype(number: int) -> DataType | int:
    try:
        return DataType(number)
    except ValueError:
        return number  # arrays and future types: kept as a number, reported unsupported


def encode_payload(payload: Payload) -> bytes:
    """Serialise a payload; each metric with a value must say its datatype.

    Raises:
        SparkplugError: A value that does not fit its datatype, or a missing datatype.
    """
    message = _payload_class()()
    if payload.timestamp is not None:
        message.timestamp = payload.timestamp
    if payload.seq is not None:
        message.seq = payload.seq
    if payload.uuid is not None:
        message.uuid = payload.uuid
    if payload.body is not None:
        message.body = payload.body
    for metric in payload.metrics:
        item = message.metrics.add()
        if metric.name is not None:
            item.name = metric.name
        if metric.alias is not None:
            item.alias = metric.alias
        if metric.timestamp is not None:
            item.timestamp = metric.timestamp
        if metric.datatype is not None:
            item.datatype = int(metric.datatype)
        if metric.is_historical:
            item.is_historical = True
        if metric.is_transient:
            item.is_transient = True
        if metric.is_null or metric.value is None:
            item.is_null = metric.is_null or metric.value is None
            continue
        if metric.datatype is None:
            raise SparkplugError(f"metric {metric.name or metric.alias}: no datatype")
        kind, raw = _wire_value(DataType(metric.datatype), metric.value)
        setattr(item, kind, raw)
    return bytes(message.SerializeToString())


def _wire_value(datatype: DataType, value: WireValue) -> tuple[str, WireValue]:
    """Pick the oneof field for a datatype and convert the value to its wire form."""
    if datatype is DataType.BOOLEAN:
        if not isinstance(value, bool):
            raise SparkplugError(f"Boolean takes true or false, not {value!r}")
        return "boolean_value", value
    if datatype in _STRING_VALUE:
        if not isinstance(value, str):
            raise SparkplugError(f"{datatype.name} takes text, not {value!r}")
        return "string_value", value
    if datatype in (DataType.FLOAT, DataType.DOUBLE):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SparkplugError(f"{datatype.name} takes a number, not {value!r}")
        kind = "float_value" if datatype is DataType.FLOAT else "double_value"
        return kind, float(value)
    if datatype in _RANGES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SparkplugError(f"{datatype.name} takes an integer, not {value!r}")
        low, high = _RANGES[datatype]
        if not low <= value <= high:
            raise SparkplugError(f"{value} is outside the range of {datatype.name}")
        return (
            ("int_value", value & _U32) if datatype in _INT_VALUE else ("long_value", value & _U64)
        )
    if datatype is DataType.BYTES:
        if not isinstance(value, bytes):
            raise SparkplugError(f"Bytes takes bytes, not {value!r}")
        return "bytes_value", value
    raise SparkplugError(f"datatype {datatype.name} is not supported")


def to_scalar(value: WireValue, datatype: DataType | int | None) -> Scalar:
    """A decoded wire value as a tag value, applying the datatype (two's complement, floats).

    Raises:
        SparkplugError: Bytes, arrays, datasets and templates: not a tag value.
    """
    if isinstance(value, bytes) or (
        datatype is not None
        and (not isinstance(datatype, DataType) or datatype in _UNSUPPORTED_DATATYPES)
    ):
        name = datatype.name if isinstance(datatype, DataType) else datatype
        raise SparkplugError(f"datatype {name} is not a tag value")
    if isinstance(value, int) and not isinstance(value, bool) and datatype in _SIGNED_BITS:
        bits = _SIGNED_BITS[DataType(datatype)]
        value &= (1 << bits) - 1
        if value >= 1 << (bits - 1):
            value -= 1 << bits
        return value
    if isinstance(value, float) and datatype is DataType.FLOAT:
        # float32 on the wire: the shortest decimal naming the same float32 (1.1, not 1.100000023)
        return float(f"{struct.unpack('<f', struct.pack('<f', value))[0]:.7g}")
    return value


_UNSUPPORTED_DATATYPES: Final = {
    DataType.DATASET,
    DataType.BYTES,
    DataType.FILE,
    DataType.TEMPLATE,
    DataType.UNKNOWN,
}


def datatype_for(value: Scalar) -> DataType:
    """The datatype used to send a value when no birth said otherwise."""
    if isinstance(value, bool):
        return DataType.BOOLEAN
    if isinstance(value, int):
        return DataType.INT64
    if isinstance(value, float):
        return DataType.DOUBLE
    if isinstance(value, str):
        return DataType.STRING
    raise SparkplugError("cannot send an empty value")


# --- topics -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Topic:
    """``spBv1.0/{group}/{type}/{edge_node}[/{device}]``."""

    group: str
    type: MessageType
    edge_node: str
    device: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.device}" if self.device is not None else ""
        return f"{NAMESPACE}/{self.group}/{self.type}/{self.edge_node}{tail}"


def parse_topic(topic: str) -> Topic | None:
    """The parts of an edge node or device topic; ``None`` for anything else (e.g. STATE)."""
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE:
        return None
    try:
        kind = MessageType(parts[2])
    except ValueError:
        return None
    device = parts[4] if len(parts) == 5 else None
    if (device is None) != kind.startswith("N"):
        return None
    return Topic(parts[1], kind, parts[3], device)


def node_filter(group: str, edge_node: str) -> str:
    """The subscription that receives every message of one edge node and its devices."""
    return f"{NAMESPACE}/{group}/+/{edge_node}/#"


def rebirth_command(timestamp_ms: int) -> bytes:
    """The NCMD payload that asks an edge node to publish its births again."""
    metric = Metric(name=REBIRTH_METRIC, timestamp=timestamp_ms, datatype=DataType.BOOLEAN)
    return encode_payload(Payload(timestamp=timestamp_ms, metrics=(_with_value(metric, True),)))


def _with_value(metric: Metric, value: WireValue) -> Metric:
    return Metric(metric.name, metric.alias, metric.timestamp, metric.datatype, value)


# --- session state ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricValue:
    """A resolved metric of a node (``device=None``) or one of its devices."""

    device: str | None
    name: str
    value: Scalar
    timestamp: int | None
    """Epoch milliseconds: the metric's own, else the payload's."""
    error: str | None = None
    """Why the value could not be read (null, unsupported datatype); ``value`` is then None."""


@dataclass(frozen=True, slots=True)
class Update:
    """What one message changed.

    Args:
        values: Resolved metrics, in message order.
        died: ``None`` if nothing died; ``(None,)`` when the node died (its devices with it);
            ``(device,)`` when one device died.
        rebirth: Why a rebirth is needed, when the caller should send one now (requests are
            throttled to one per ``rebirth_interval`` until a birth arrives).
        problems: Messages that were ignored or partly ignored, for the log.
    """

    values: tuple[MetricValue, ...] = ()
    died: tuple[str | None] | None = None
    rebirth: str | None = None
    problems: tuple[str, ...] = ()


@dataclass
class _Scope:
    """Aliases and datatypes of the node itself or of one device, from its birth."""

    names: dict[int, str] = field(default_factory=dict)
    datatypes: dict[str, DataType | int] = field(default_factory=dict)


class EdgeNode:
    """The session state of one edge node, fed every message from its topics in order.

    Args:
        group: The Sparkplug group id.
        edge_node: The edge node id.
        rebirth_interval: Seconds to wait for a birth before asking again.
    """

    def __init__(self, group: str, edge_node: str, rebirth_interval: float = 5.0) -> None:
        self.group = group
        self.edge_node = edge_node
        self._rebirth_interval = rebirth_interval
        self._node: _Scope | None = None  # None until NBIRTH: data cannot be resolved
        self._devices: dict[str, _Scope] = {}
        self._next_seq: int | None = None
        self._bd_seq: int | None = None
        self._rebirth_asked: float | None = None

    @property
    def born(self) -> bool:
        return self._node is not None

    def datatype(self, device: str | None, name: str) -> DataType | int | None:
        """The datatype the last birth gave a metric, for writes."""
        scope = self._node if device is None else self._devices.get(device)
        return scope.datatypes.get(name) if scope is not None else None

    def handle(self, kind: MessageType, device: str | None, payload: Payload, now: float) -> Update:
        """Apply one message.

        Args:
            kind: From the topic.
            device: From the topic; ``None`` for node messages.
            payload: The decoded payload.
            now: Monotonic seconds, for throttling rebirth requests.
        """
        if kind is MessageType.NBIRTH:
            return self._node_birth(payload)
        if kind is MessageType.NDEATH:
            return self._node_death(payload)
        if kind in (MessageType.NCMD, MessageType.DCMD):
            return Update()
        if self._node is None:
            return self._ask_rebirth(f"{kind} before the node's birth", now)
        problems: list[str] = []
        seq_problem = self._check_seq(payload)
        if kind is MessageType.DBIRTH:
            assert device is not None, "parse_topic gives DBIRTH a device"
            update = self._device_birth(device, payload)
        elif kind is MessageType.DDEATH:
            assert device is not None, "parse_topic gives DDEATH a device"
            self._devices.pop(device, None)
            update = Update(died=(device,))
        else:
            update = self._data(device, payload, now)
        if seq_problem is not None:
            rebirth = self._ask_rebirth(seq_problem, now).rebirth
            problems.append(seq_problem)
            return Update(update.values, update.died, rebirth or update.rebirth, (*problems,))
        return update

    def _check_seq(self, payload: Payload) -> str | None:
        """``None`` when in order; a description of the gap otherwise (and resync)."""
        if payload.seq is None or self._next_seq is None:
            return None  # lenient with publishers that omit seq: nothing to compare
        expected, got = self._next_seq, payload.seq
        self._next_seq = (got + 1) % SEQ_MODULUS
        if got != expected:
            return f"seq gap: expected {expected}, got {got}"
        return None

    def _ask_rebirth(self, reason: str, now: float) -> Update:
        asked = self._rebirth_asked
        if asked is not None and now - asked < self._rebirth_interval:
            return Update(problems=(reason,))
        self._rebirth_asked = now
        return Update(rebirth=reason, problems=(reason,))

    def _node_birth(self, payload: Payload) -> Update:
        self._node = _Scope()
        self._devices = {}
        self._rebirth_asked = None
        self._next_seq = (payload.seq + 1) % SEQ_MODULUS if payload.seq is not None else None
        self._bd_seq = None
        for metric in payload.metrics:
            if metric.name == BDSEQ_METRIC and isinstance(metric.value, int):
                self._bd_seq = metric.value
        return self._birth(None, self._node, payload)

    def _device_birth(self, device: str, payload: Payload) -> Update:
        scope = self._devices[device] = _Scope()
        return self._birth(device, scope, payload)

    def _birth(self, device: str | None, scope: _Scope, payload: Payload) -> Update:
        values, problems = [], []
        for metric in payload.metrics:
            if metric.name is None:
                problems.append(f"birth metric without a name (alias {metric.alias})")
                continue
            if metric.datatype is not None:
                scope.datatypes[metric.name] = metric.datatype
            if metric.alias is not None:
                scope.names[metric.alias] = metric.name
            values.append(self._resolve(device, metric.name, metric, scope, payload))
        return Update(values=tuple(values), problems=tuple(problems))

    def _node_death(self, payload: Payload) -> Update:
        death_bd = next(
            (
                m.value
                for m in payload.metrics
                if m.name == BDSEQ_METRIC and isinstance(m.value, int)
            ),
            None,
        )
        if self._bd_seq is not None and death_bd is not None and death_bd != self._bd_seq:
            # The will of an older connection, delivered after the node was born again.
            return Update(problems=(f"NDEATH bdSeq {death_bd} is stale (birth {self._bd_seq})",))
        self._node = None
        self._devices = {}
        self._next_seq = None
        return Update(died=(None,))

    def _data(self, device: str | None, payload: Payload, now: float) -> Update:
        scope = self._node if device is None else self._devices.get(device)
        if scope is None:
            return self._ask_rebirth(f"data from device {device} before its birth", now)
        values, unknown = [], []
        for metric in payload.metrics:
            name = metric.name
            if name is None and metric.alias is not None:
                name = scope.names.get(metric.alias)
            if name is None:
                unknown.append(metric.alias)
                continue
            values.append(self._resolve(device, name, metric, scope, payload))
        if unknown:
            asked = self._ask_rebirth(f"unknown aliases {unknown}", now)
            return Update(values=tuple(values), rebirth=asked.rebirth, problems=asked.problems)
        return Update(values=tuple(values))

    @staticmethod
    def _resolve(
        device: str | None, name: str, metric: Metric, scope: _Scope, payload: Payload
    ) -> MetricValue:
        stamp = metric.timestamp if metric.timestamp is not None else payload.timestamp
        datatype = metric.datatype if metric.datatype is not None else scope.datatypes.get(name)
        if metric.is_null:
            return MetricValue(device, name, None, stamp, "null value")
        try:
            value = to_scalar(metric.value, datatype)
        except SparkplugError as exc:
            return MetricValue(device, name, None, stamp, str(exc))
        if value is None:
            return MetricValue(device, name, None, stamp, "no value of a supported type")
        return MetricValue(device, name, value, stamp)
