"""Plain and JSON payload decoding, from tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols.mqtt_payload import (
    MISSING,
    PayloadError,
    PlainType,
    decode_plain,
    encode_plain,
    extract,
    format_path,
    json_scalar,
    load_json,
    parse_path,
    parse_timestamp,
)
from protocols.wire import Scalar

PLAIN_ROWS: list[tuple[bytes, PlainType, bool | int | float | str]] = [
    (b"42", "number", 42),
    (b" -7\n", "number", -7),
    (b"+3", "number", 3),
    (b"72.5", "number", 72.5),
    (b"-0.25", "number", -0.25),
    (b"1e3", "number", 1000.0),
    (b"true", "bool", True),
    (b"TRUE", "bool", True),
    (b"1", "bool", True),
    (b"on", "bool", True),
    (b"false", "bool", False),
    (b" 0 ", "bool", False),
    (b"Off", "bool", False),
    (b"RUNNING", "text", "RUNNING"),
    (b" keeps spaces ", "text", " keeps spaces "),
    ("Temp\u00e9rature".encode(), "text", "Temp\u00e9rature"),
    (b"", "text", ""),
]


@pytest.mark.parametrize(("payload", "type_", "value"), PLAIN_ROWS)
def test_plain_decodes(payload: bytes, type_: PlainType, value: object) -> None:
    decoded = decode_plain(payload, type_)
    assert decoded == value
    assert type(decoded) is type(value)


GARBLED_PLAIN: list[tuple[bytes, PlainType, str]] = [
    (b"", "number", "not a number"),
    (b"abc", "number", "not a number"),
    (b"1,5", "number", "not a number"),
    (b"nan", "number", "not a finite number"),
    (b"inf", "number", "not a finite number"),
    (b"yes", "bool", "not a bool"),
    (b"2", "bool", "not a bool"),
    (b"\xff\xfe", "text", "not UTF-8"),
    (b"\xff42", "number", "not UTF-8"),
]


@pytest.mark.parametrize(("payload", "type_", "message"), GARBLED_PLAIN)
def test_plain_refuses(payload: bytes, type_: PlainType, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode_plain(payload, type_)


ENCODE_ROWS: list[tuple[Scalar, PlainType, bytes]] = [
    (72.5, "number", b"72.5"),
    (3, "number", b"3"),
    (True, "bool", b"true"),
    (False, "bool", b"false"),
    ("AUTO", "text", b"AUTO"),
]


@pytest.mark.parametrize(("value", "type_", "payload"), ENCODE_ROWS)
def test_plain_encodes_what_it_decodes(value: Scalar, type_: PlainType, payload: bytes) -> None:
    assert encode_plain(value, type_) == payload
    assert decode_plain(payload, type_) == value


@pytest.mark.parametrize(
    ("value", "type_"),
    [(True, "number"), ("7", "number"), (float("nan"), "number"), (1, "bool"), (3, "text")],
)
def test_plain_encode_refuses_a_value_of_the_wrong_type(value: Scalar, type_: PlainType) -> None:
    with pytest.raises(ValueError, match="takes"):
        encode_plain(value, type_)


PATH_ROWS: list[tuple[str, tuple[str | int, ...]]] = [
    ("$", ()),
    ("$.a", ("a",)),
    ("$.a.b", ("a", "b")),
    ("$.zones[0]", ("zones", 0)),
    ("$[2].x", (2, "x")),
    ("$.a-b.c_d[10][1]", ("a-b", "c_d", 10, 1)),
]


@pytest.mark.parametrize(("text", "path"), PATH_ROWS)
def test_path_parses_and_formats_back(text: str, path: tuple[str | int, ...]) -> None:
    assert parse_path(text) == path
    assert format_path(path) == text


@pytest.mark.parametrize("text", ["a.b", "$.", "$..a", "$[x]", "$[-1]", "$.a b", "$['a']", "$.*"])
def test_path_refuses_what_the_subset_does_not_have(text: str) -> None:
    with pytest.raises(ValueError, match=r"path|cannot read"):
        parse_path(text)


DOCUMENT = load_json(
    b'{"temperature": 71.5, "ok": true, "state": "RUN", "nothing": null,'
    b' "zones": [180.1, {"t": 200}], "nested": {"a": {"b": 3}}, "ts": 1700000000000}'
)

EXTRACT_ROWS: list[tuple[str, object]] = [
    ("$.temperature", 71.5),
    ("$.ok", True),
    ("$.state", "RUN"),
    ("$.nothing", None),
    ("$.zones[0]", 180.1),
    ("$.zones[1].t", 200),
    ("$.nested.a.b", 3),
    ("$.missing", MISSING),
    ("$.zones[5]", MISSING),
    ("$.temperature.x", MISSING),
    ("$.nested[0]", MISSING),
    ("$.zones.t", MISSING),
]


@pytest.mark.parametrize(("path", "value"), EXTRACT_ROWS)
def test_extract(path: str, value: object) -> None:
    assert extract(DOCUMENT, parse_path(path)) == value


@pytest.mark.parametrize("path", ["$.zones", "$.nested.a"])
def test_a_container_is_not_a_value(path: str) -> None:
    parsed = parse_path(path)
    with pytest.raises(PayloadError, match="holds an"):
        json_scalar(extract(DOCUMENT, parsed), parsed)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": Infinity}', "Infinity is not a JSON number"),
        (b"\xff{}", "not UTF-8"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_json_refuses_garbage(payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        load_json(payload)


TIMESTAMP_ROWS: list[tuple[object, datetime]] = [
    (1_700_000_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    (1_700_000_000_500.0, datetime(2023, 11, 14, 22, 13, 20, 500_000, tzinfo=UTC)),
    ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ("2024-05-01T12:00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),  # naive means UTC
]


@pytest.mark.parametrize(("raw", "stamp"), TIMESTAMP_ROWS)
def test_timestamps(raw: object, stamp: datetime) -> None:
    assert parse_timestamp(raw) == stamp


@pytest.mark.parametrize("raw", [True, "yesterday", None, [1], 10**30])
def test_timestamp_refuses(raw: object) -> None:
    with pytest.raises(PayloadError):
        parse_timestamp(raw)
