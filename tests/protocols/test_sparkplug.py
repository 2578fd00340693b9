"""Sparkplug B payload encode/decode from tables, topics, and the edge node session rules."""

from __future__ import annotations

import pytest

from protocols.sparkplug import (
    BDSEQ_METRIC,
    REBIRTH_METRIC,
    DataType,
    EdgeNode,
    MessageType,
    Metric,
    Payload,
    SparkplugError,
    Topic,
    decode_payload,
    encode_payload,
    node_filter,
    parse_topic,
    rebirth_command,
    to_scalar,
)
from protocols.wire import Scalar

# (datatype, engineering value, oneof field on the wire, raw wire value)
VALUE_ROWS: list[tuple[DataType, Scalar, str, object]] = [
    (DataType.INT8, -2, "int_value", 0xFFFFFFFE),
    (DataType.INT8, 127, "int_value", 127),
    (DataType.INT16, -32768, "int_value", 0xFFFF8000),
    (DataType.INT32, -123456789, "int_value", 0xF8A432EB),
    (DataType.INT64, -1234567890123, "long_value", 0xFFFFFEE08E04FB35),
    (DataType.UINT8, 255, "int_value", 255),
    (DataType.UINT16, 65535, "int_value", 65535),
    (DataType.UINT32, 4294967295, "int_value", 4294967295),
    (DataType.UINT64, 2**64 - 1, "long_value", 2**64 - 1),
    (DataType.DATETIME, 1_700_000_000_000, "long_value", 1_700_000_000_000),
    (DataType.FLOAT, 1.1, "float_value", None),  # float32 on the wire: compared after decode
    (DataType.DOUBLE, 123.456, "double_value", 123.456),
    (DataType.BOOLEAN, True, "boolean_value", True),
    (DataType.BOOLEAN, False, "boolean_value", False),
    (DataType.STRING, "LOT-0001", "string_value", "LOT-0001"),
    (DataType.TEXT, "long text", "string_value", "long text"),
    (DataType.UUID, "0b6f1b1e-7f0c-4a4b-9f59-1f1d3c4b5a69", "string_value", None),
]


@pytest.mark.parametrize(("datatype", "value", "field", "raw"), VALUE_ROWS)
def test_metric_values_round_trip(
    datatype: DataType, value: Scalar, field: str, raw: object
) -> None:
    metric = Metric(name="m", alias=7, timestamp=1_700_000_000_123, datatype=datatype, value=value)
    data = encode_payload(Payload(timestamp=1_700_000_000_000, metrics=(metric,), seq=255))
    decoded = decode_payload(data)
    assert decoded.seq == 255
    assert decoded.timestamp == 1_700_000_000_000
    (back,) = decoded.metrics
    assert (back.name, back.alias, back.timestamp, back.datatype) == (
        "m",
        7,
        1_700_000_000_123,
        datatype,
    )
    if raw is not None:
        assert back.value == raw
    assert to_scalar(back.value, datatype) == value


def test_signed_values_read_without_sign_extension_too() -> None:
    # Some publishers send Int8 -2 as 0xFE rather than sign-extended to 32 bits.
    assert to_scalar(0xFE, DataType.INT8) == -2
    assert to_scalar(0xFFFE, DataType.INT16) == -2


def test_hand_written_bytes_decode() -> None:
    # timestamp=1 (field 1 varint), seq=5 (field 3), one metric: alias=2, int_value=7
    data = bytes([0x08, 0x01, 0x12, 0x04, 0x10, 0x02, 0x50, 0x07, 0x18, 0x05])
    payload = decode_payload(data)
    assert payload == Payload(timestamp=1, metrics=(Metric(alias=2, value=7),), seq=5)


def test_unknown_fields_such_as_properties_are_skipped() -> None:
    # metric field 9 (properties, length-delimited, 2 bytes), then name "a"
    metric = bytes([0x4A, 0x02, 0x0A, 0x00, 0x0A, 0x01, ord("a")])
    data = bytes([0x12, len(metric)]) + metric + bytes([0x18, 0x00])
    (only,) = decode_payload(data).metrics
    assert only.name == "a"
    assert only.value is None


def test_null_metric() -> None:
    metric = Metric(name="n", datatype=DataType.DOUBLE, is_null=True)
    (back,) = decode_payload(encode_payload(Payload(metrics=(metric,), seq=0))).metrics
    assert back.is_null
    assert back.value is None


@pytest.mark.parametrize(
    ("datatype", "value"),
    [
        (DataType.INT8, 128),
        (DataType.UINT16, -1),
        (DataType.INT32, 1.5),
        (DataType.BOOLEAN, 1),
        (DataType.DOUBLE, "x"),
        (DataType.STRING, 5),
        (DataType.DATASET, 1),
    ],
)
def test_encode_refuses_values_that_do_not_fit(datatype: DataType, value: Scalar) -> None:
    with pytest.raises(SparkplugError):
        encode_payload(Payload(metrics=(Metric(name="m", datatype=datatype, value=value),)))


@pytest.mark.parametrize("data", [b"\xff\xff\xff", b"\x12\x10abc", b'{"json": true}'])
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(SparkplugError, match="not a Sparkplug B payload"):
        decode_payload(data)


TOPIC_ROWS: list[tuple[str, Topic | None]] = [
    ("spBv1.0/plant/NBIRTH/sim", Topic("plant", MessageType.NBIRTH, "sim")),
    ("spBv1.0/plant/DDATA/sim/press", Topic("plant", MessageType.DDATA, "sim", "press")),
    ("spBv1.0/plant/NCMD/sim", Topic("plant", MessageType.NCMD, "sim")),
    ("spBv1.0/STATE/host1", None),
    ("spBv1.0/plant/NDATA/sim/extra", None),  # node messages have no device level
    ("spBv1.0/plant/DDATA/sim", None),  # device messages need one
    ("spBv1.0/plant/XDATA/sim", None),
    ("spAv1.0/plant/NDATA/sim", None),
    ("floorgate/sim/press", None),
]


@pytest.mark.parametrize(("text", "topic"), TOPIC_ROWS)
def test_topics(text: str, topic: Topic | None) -> None:
    assert parse_topic(text) == topic
    if topic is not None:
        assert str(topic) == text


def test_node_filter() -> None:
    assert node_filter("plant", "sim") == "spBv1.0/plant/+/sim/#"


def test_rebirth_command() -> None:
    (metric,) = decode_payload(rebirth_command(5)).metrics
    assert (metric.name, metric.datatype, metric.value) == (REBIRTH_METRIC, DataType.BOOLEAN, True)


# --- the session rules ---------------------------------------------------------------------------


def birth(seq: int = 0, bd_seq: int = 3) -> Payload:
    return Payload(
        timestamp=1000,
        seq=seq,
        metrics=(
            Metric(name=BDSEQ_METRIC, datatype=DataType.INT64, value=bd_seq),
            Metric(name="temp", alias=1, datatype=DataType.DOUBLE, value=20.5),
            Metric(name="count", alias=2, datatype=DataType.INT16, value=0xFFFF),
        ),
    )


def data(seq: int, *metrics: Metric) -> Payload:
    return Payload(timestamp=2000, seq=seq, metrics=metrics)


def values(
    node: EdgeNode, kind: MessageType, payload: Payload, device: str | None = None
) -> dict[str, Scalar]:
    update = node.handle(kind, device, payload, now=0.0)
    return {v.name: v.value for v in update.values}


def test_birth_registers_aliases_and_datatypes_that_data_resolves() -> None:
    node = EdgeNode("plant", "sim")
    assert values(node, MessageType.NBIRTH, birth()) == {BDSEQ_METRIC: 3, "temp": 20.5, "count": -1}
    update = node.handle(
        MessageType.NDATA, None, data(1, Metric(alias=1, value=21.0), Metric(alias=2, value=5)), 0
    )
    assert [(v.name, v.value, v.timestamp) for v in update.values] == [
        ("temp", 21.0, 2000),
        ("count", 5, 2000),
    ]
    assert update.rebirth is None
    assert node.datatype(None, "count") is DataType.INT16


def test_seq_wraps_at_256_without_a_rebirth() -> None:
    node = EdgeNode("plant", "sim")
    node.handle(MessageType.NBIRTH, None, birth(seq=254), 0)
    for seq in (255, 0, 1):
        update = node.handle(MessageType.NDATA, None, data(seq, Metric(alias=1, value=1.0)), 0)
        assert update.rebirth is None, seq


def test_seq_gap_asks_for_a_rebirth_once_per_interval_and_keeps_the_values() -> None:
    node = EdgeNode("plant", "sim", rebirth_interval=5.0)
    node.handle(MessageType.NBIRTH, None, birth(seq=0), 0)
    gap = node.handle(MessageType.NDATA, None, data(4, Metric(alias=1, value=22.0)), now=10.0)
    assert gap.rebirth == "seq gap: expected 1, got 4"
    assert [v.value for v in gap.values] == [22.0]
    again = node.handle(MessageType.NDATA, None, data(9, Metric(alias=1, value=23.0)), now=11.0)
    assert again.rebirth is None  # asked 1 s ago: wait for the birth
    assert again.problems == ("seq gap: expected 5, got 9",)
    later = node.handle(MessageType.NDATA, None, data(20, Metric(alias=1, value=23.0)), now=16.0)
    assert later.rebirth is not None
    node.handle(MessageType.NBIRTH, None, birth(seq=0), now=16.5)
    fresh = node.handle(MessageType.NDATA, None, data(7, Metric(alias=1, value=1.0)), now=17.0)
    assert fresh.rebirth is not None  # a birth resets the throttle


@pytest.mark.parametrize(
    ("kind", "device", "reason"),
    [
        (MessageType.NDATA, None, "NDATA before the node's birth"),
        (MessageType.DDATA, "press", "DDATA before the node's birth"),
        (MessageType.DBIRTH, "press", "DBIRTH before the node's birth"),
    ],
)
def test_messages_before_the_birth_ask_for_one(
    kind: MessageType, device: str | None, reason: str
) -> None:
    node = EdgeNode("plant", "sim")
    update = node.handle(kind, device, data(5, Metric(alias=1, value=1.0)), 0)
    assert update.rebirth == reason
    assert update.values == ()


def test_unknown_alias_asks_for_a_rebirth_and_keeps_the_known_ones() -> None:
    node = EdgeNode("plant", "sim")
    node.handle(MessageType.NBIRTH, None, birth(), 0)
    update = node.handle(
        MessageType.NDATA, None, data(1, Metric(alias=1, value=2.0), Metric(alias=9, value=1)), 0
    )
    assert update.rebirth == "unknown aliases [9]"
    assert [v.name for v in update.values] == ["temp"]


def test_devices_have_their_own_births_and_deaths() -> None:
    node = EdgeNode("plant", "sim")
    node.handle(MessageType.NBIRTH, None, birth(seq=0), 0)
    device_birth = Payload(
        seq=1, metrics=(Metric(name="speed", alias=50, datatype=DataType.FLOAT, value=1.5),)
    )
    assert values(node, MessageType.DBIRTH, device_birth, "press") == {"speed": 1.5}
    ddata = data(2, Metric(alias=50, value=2.5))
    assert values(node, MessageType.DDATA, ddata, "press") == {"speed": 2.5}
    death = node.handle(MessageType.DDEATH, "press", Payload(seq=3), 0)
    assert death.died == ("press",)
    after = node.handle(MessageType.DDATA, "press", data(4, Metric(alias=50, value=1.0)), 0)
    assert after.rebirth == "data from device press before its birth"


def test_null_and_unsupported_values_carry_the_reason() -> None:
    node = EdgeNode("plant", "sim")
    node.handle(MessageType.NBIRTH, None, birth(), 0)
    update = node.handle(
        MessageType.NDATA,
        None,
        data(1, Metric(alias=1, is_null=True), Metric(name="blob", datatype=DataType.BYTES)),
        0,
    )
    assert [(v.name, v.value, v.error) for v in update.values] == [
        ("temp", None, "null value"),
        ("blob", None, "datatype BYTES is not a tag value"),
    ]


def test_node_death_with_the_birth_bdseq_kills_the_node() -> None:
    node = EdgeNode("plant", "sim")
    node.handle(MessageType.NBIRTH, None, birth(bd_seq=3), 0)
    death = Payload(metrics=(Metric(name=BDSEQ_METRIC, datatype=DataType.INT64, value=3),))
    assert node.handle(MessageType.NDEATH, None, death, 0).died == (None,)
    assert not node.born
    assert node.handle(MessageType.NDATA, None, data(1), 0).rebirth is not None


def test_a_stale_will_from_an_older_connection_is_ignored() -> None:
    node = EdgeNode("plant", "sim")
    node.handle(MessageType.NBIRTH, None, birth(bd_seq=4), 0)
    stale = Payload(metrics=(Metric(name=BDSEQ_METRIC, datatype=DataType.INT64, value=3),))
    update = node.handle(MessageType.NDEATH, None, stale, 0)
    assert update.died is None
    assert node.born
