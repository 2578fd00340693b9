"""Register <-> value tables for every type and order; expected registers are hand-written hex."""

from __future__ import annotations

import math

import pytest

from protocols.modbus_decode import DataType, Order, apply_scale, decode, encode, register_count

B, L = Order.BIG, Order.LITTLE
ABCD, CDAB, BADC, DCBA = (B, B), (B, L), (L, B), (L, L)  # (byte_order, word_order)

# (data_type, (byte_order, word_order), registers, value, length)
ROWS: list[
    tuple[DataType, tuple[Order, Order], list[int], bool | int | float | str, int | None]
] = [
    # bool: any non-zero register is True, whatever the order
    (DataType.BOOL, ABCD, [0x0001], True, None),
    (DataType.BOOL, CDAB, [0x0001], True, None),
    (DataType.BOOL, BADC, [0x0001], True, None),
    (DataType.BOOL, DCBA, [0x0001], True, None),
    (DataType.BOOL, ABCD, [0x0000], False, None),
    (DataType.BOOL, DCBA, [0x0000], False, None),
    # int16 -2 = 0xFFFE; 4660 = 0x1234 (word order cannot matter for one register)
    (DataType.INT16, ABCD, [0xFFFE], -2, None),
    (DataType.INT16, CDAB, [0xFFFE], -2, None),
    (DataType.INT16, BADC, [0xFEFF], -2, None),
    (DataType.INT16, DCBA, [0xFEFF], -2, None),
    (DataType.INT16, ABCD, [0x1234], 4660, None),
    (DataType.INT16, BADC, [0x3412], 4660, None),
    (DataType.INT16, ABCD, [0x8000], -32768, None),
    # uint16 65534 = 0xFFFE
    (DataType.UINT16, ABCD, [0xFFFE], 65534, None),
    (DataType.UINT16, CDAB, [0xFFFE], 65534, None),
    (DataType.UINT16, BADC, [0xFEFF], 65534, None),
    (DataType.UINT16, DCBA, [0xFEFF], 65534, None),
    # int32 -123456789 = 0xF8A432EB
    (DataType.INT32, ABCD, [0xF8A4, 0x32EB], -123456789, None),
    (DataType.INT32, CDAB, [0x32EB, 0xF8A4], -123456789, None),
    (DataType.INT32, BADC, [0xA4F8, 0xEB32], -123456789, None),
    (DataType.INT32, DCBA, [0xEB32, 0xA4F8], -123456789, None),
    # uint32 305419896 = 0x12345678
    (DataType.UINT32, ABCD, [0x1234, 0x5678], 305419896, None),
    (DataType.UINT32, CDAB, [0x5678, 0x1234], 305419896, None),
    (DataType.UINT32, BADC, [0x3412, 0x7856], 305419896, None),
    (DataType.UINT32, DCBA, [0x7856, 0x3412], 305419896, None),
    (DataType.UINT32, ABCD, [0xFFFF, 0xFFFF], 4294967295, None),
    # int64 -1234567890123 = 0xFFFFFEE08E04FB35
    (DataType.INT64, ABCD, [0xFFFF, 0xFEE0, 0x8E04, 0xFB35], -1234567890123, None),
    (DataType.INT64, CDAB, [0xFB35, 0x8E04, 0xFEE0, 0xFFFF], -1234567890123, None),
    (DataType.INT64, BADC, [0xFFFF, 0xE0FE, 0x048E, 0x35FB], -1234567890123, None),
    (DataType.INT64, DCBA, [0x35FB, 0x048E, 0xE0FE, 0xFFFF], -1234567890123, None),
    # uint64 72623859790382856 = 0x0102030405060708
    (DataType.UINT64, ABCD, [0x0102, 0x0304, 0x0506, 0x0708], 72623859790382856, None),
    (DataType.UINT64, CDAB, [0x0708, 0x0506, 0x0304, 0x0102], 72623859790382856, None),
    (DataType.UINT64, BADC, [0x0201, 0x0403, 0x0605, 0x0807], 72623859790382856, None),
    (DataType.UINT64, DCBA, [0x0807, 0x0605, 0x0403, 0x0201], 72623859790382856, None),
    # float32 1.0 = 0x3F800000; 123.456 = 0x42F6E979 (exactly 123.45600128173828 as float32,
    # decoded as the shortest decimal naming the same float32)
    (DataType.FLOAT32, ABCD, [0x3F80, 0x0000], 1.0, None),
    (DataType.FLOAT32, CDAB, [0x0000, 0x3F80], 1.0, None),
    (DataType.FLOAT32, BADC, [0x803F, 0x0000], 1.0, None),
    (DataType.FLOAT32, DCBA, [0x0000, 0x803F], 1.0, None),
    (DataType.FLOAT32, ABCD, [0x42F6, 0xE979], 123.456, None),
    (DataType.FLOAT32, CDAB, [0xE979, 0x42F6], 123.456, None),
    (DataType.FLOAT32, BADC, [0xF642, 0x79E9], 123.456, None),
    (DataType.FLOAT32, DCBA, [0x79E9, 0xF642], 123.456, None),
    (DataType.FLOAT32, ABCD, [0xBFC0, 0x0000], -1.5, None),
    # float64 123.456 = 0x405EDD2F1A9FBE77; -2.5 = 0xC004000000000000
    (DataType.FLOAT64, ABCD, [0x405E, 0xDD2F, 0x1A9F, 0xBE77], 123.456, None),
    (DataType.FLOAT64, CDAB, [0xBE77, 0x1A9F, 0xDD2F, 0x405E], 123.456, None),
    (DataType.FLOAT64, BADC, [0x5E40, 0x2FDD, 0x9F1A, 0x77BE], 123.456, None),
    (DataType.FLOAT64, DCBA, [0x77BE, 0x9F1A, 0x2FDD, 0x5E40], 123.456, None),
    (DataType.FLOAT64, ABCD, [0xC004, 0x0000, 0x0000, 0x0000], -2.5, None),
    # string "Hi!" (odd length 3: 0x48 0x69 0x21 + one NUL pad); word order does not apply
    (DataType.STRING, ABCD, [0x4869, 0x2100], "Hi!", 3),
    (DataType.STRING, CDAB, [0x4869, 0x2100], "Hi!", 3),
    (DataType.STRING, BADC, [0x6948, 0x0021], "Hi!", 3),
    (DataType.STRING, DCBA, [0x6948, 0x0021], "Hi!", 3),
    (DataType.STRING, ABCD, [0x5041, 0x4C4C, 0x4554], "PALLET", 6),
]


_ORDER_NAMES = {ABCD: "ABCD", CDAB: "CDAB", BADC: "BADC", DCBA: "DCBA"}
ROW_IDS = [
    f"{t}-{_ORDER_NAMES[o]}-" + "_".join(f"{r:04X}" for r in regs) for t, o, regs, _, _ in ROWS
]


@pytest.mark.parametrize(("data_type", "orders", "registers", "value", "length"), ROWS, ids=ROW_IDS)
def test_decode(
    data_type: DataType,
    orders: tuple[Order, Order],
    registers: list[int],
    value: bool | int | float | str,
    length: int | None,
) -> None:
    byte_order, word_order = orders
    got = decode(registers, data_type, byte_order=byte_order, word_order=word_order, length=length)
    assert got == value
    assert type(got) is type(value)


@pytest.mark.parametrize(("data_type", "orders", "registers", "value", "length"), ROWS, ids=ROW_IDS)
def test_encode(
    data_type: DataType,
    orders: tuple[Order, Order],
    registers: list[int],
    value: bool | int | float | str,
    length: int | None,
) -> None:
    byte_order, word_order = orders
    got = encode(value, data_type, byte_order=byte_order, word_order=word_order, length=length)
    assert got == registers


@pytest.mark.parametrize(
    ("register", "byte_order", "bit", "expected"),
    [
        (0x8001, B, 0, True),
        (0x8001, B, 1, False),
        (0x8001, B, 15, True),
        (0x8001, B, 14, False),
        (0x0100, B, 8, True),
        (0x0100, B, 0, False),
        (0x0000, B, 3, False),
        (0xFFFF, B, 7, True),
        # little byte order swaps the bytes before the bit is picked: 0x0100 reads as 0x0001
        (0x0100, L, 0, True),
        (0x0100, L, 8, False),
    ],
)
def test_decode_bit(register: int, byte_order: Order, bit: int, expected: bool) -> None:
    assert decode([register], DataType.BOOL, byte_order=byte_order, bit=bit) is expected


@pytest.mark.parametrize(
    ("registers", "length", "expected"),
    [
        ([0x4142, 0x2020, 0x0000], 6, "AB"),  # trailing spaces and NULs stripped
        ([0x2041, 0x0000], 4, " A"),  # leading space kept
        ([0x4142, 0x4300], 4, "ABC"),  # NUL inside the length stripped as trailing
        ([0x4142, 0x4344], 3, "ABC"),  # byte beyond the length ignored
        ([0xFF41], 2, "\ufffdA"),  # invalid UTF-8 replaced, not raised
        ([0xC3A9], 2, "é"),  # UTF-8
        ([0x0000, 0x0000], 4, ""),
    ],
)
def test_decode_string_cleanup(registers: list[int], length: int, expected: str) -> None:
    assert decode(registers, DataType.STRING, length=length) == expected


def test_encode_string_pads_with_nuls() -> None:
    assert encode("AB", DataType.STRING, length=7) == [0x4142, 0x0000, 0x0000, 0x0000]


ROUND_TRIP: list[tuple[DataType, list[bool | int | float]]] = [
    (DataType.BOOL, [True, False]),
    (DataType.INT16, [-32768, -1, 0, 1, 32767]),
    (DataType.UINT16, [0, 1, 0x8000, 65535]),
    (DataType.INT32, [-(2**31), -1, 0, 70000, 2**31 - 1]),
    (DataType.UINT32, [0, 65536, 2**32 - 1]),
    (DataType.INT64, [-(2**63), -1, 0, 2**40 + 3, 2**63 - 1]),
    (DataType.UINT64, [0, 2**48 + 1, 2**64 - 1]),
    (DataType.FLOAT32, [0.0, -0.0, 1.5, -1.5, 3.4028234663852886e38, 1.401298464324817e-45]),
    (DataType.FLOAT64, [0.0, math.pi, -1e300, 5e-324, math.inf, -math.inf]),
]


@pytest.mark.parametrize(
    ("data_type", "value", "orders"),
    [
        (data_type, value, orders)
        for data_type, values in ROUND_TRIP
        for value in values
        for orders in (ABCD, CDAB, BADC, DCBA)
    ],
)
def test_round_trip(
    data_type: DataType, value: bool | int | float, orders: tuple[Order, Order]
) -> None:
    byte_order, word_order = orders
    registers = encode(value, data_type, byte_order=byte_order, word_order=word_order)
    assert len(registers) == register_count(data_type)
    assert all(0 <= r <= 0xFFFF for r in registers)
    got = decode(registers, data_type, byte_order=byte_order, word_order=word_order)
    if data_type is DataType.FLOAT32:
        # Decoded to the shortest decimal of the same float32: it encodes to the same registers.
        assert isinstance(got, float)
        assert encode(got, data_type, byte_order=byte_order, word_order=word_order) == registers
    else:
        assert got == value
    assert type(got) is type(value)
    if isinstance(value, float) and value == 0.0:
        assert math.copysign(1.0, got) == math.copysign(1.0, value)


@pytest.mark.parametrize("orders", [ABCD, CDAB, BADC, DCBA])
@pytest.mark.parametrize("value", ["A", "Hi!", "PALLET-07", "é ok"])
def test_round_trip_string(value: str, orders: tuple[Order, Order]) -> None:
    byte_order, word_order = orders
    length = len(value.encode()) + 1
    registers = encode(
        value, DataType.STRING, byte_order=byte_order, word_order=word_order, length=length
    )
    assert len(registers) == register_count(DataType.STRING, length)
    got = decode(
        registers, DataType.STRING, byte_order=byte_order, word_order=word_order, length=length
    )
    assert got == value


def test_round_trip_nan() -> None:
    for data_type in (DataType.FLOAT32, DataType.FLOAT64):
        got = decode(encode(math.nan, data_type), data_type)
        assert isinstance(got, float)
        assert math.isnan(got)


@pytest.mark.parametrize(
    ("data_type", "length", "expected"),
    [
        (DataType.BOOL, None, 1),
        (DataType.INT16, None, 1),
        (DataType.UINT16, None, 1),
        (DataType.INT32, None, 2),
        (DataType.UINT32, None, 2),
        (DataType.FLOAT32, None, 2),
        (DataType.INT64, None, 4),
        (DataType.UINT64, None, 4),
        (DataType.FLOAT64, None, 4),
        (DataType.STRING, 1, 1),
        (DataType.STRING, 2, 1),
        (DataType.STRING, 3, 2),
        (DataType.STRING, 10, 5),
        (DataType.STRING, 11, 6),
        (DataType.INT32, 8, 2),  # length only matters for strings
    ],
)
def test_register_count(data_type: DataType, length: int | None, expected: int) -> None:
    assert register_count(data_type, length) == expected


@pytest.mark.parametrize("length", [None, 0, -2])
def test_register_count_string_needs_length(length: int | None) -> None:
    with pytest.raises(ValueError, match="length"):
        register_count(DataType.STRING, length)


@pytest.mark.parametrize(
    ("registers", "data_type", "kwargs", "match"),
    [
        ([0x0001], DataType.INT32, {}, "needs 2 register"),
        ([1, 2, 3], DataType.INT32, {}, "needs 2 register"),
        ([1, 2], DataType.FLOAT64, {}, "needs 4 register"),
        ([1, 2, 3, 4], DataType.FLOAT32, {}, "needs 2 register"),
        ([1, 2], DataType.INT16, {}, "needs 1 register"),
        ([1, 2], DataType.BOOL, {}, "needs 1 register"),
        ([], DataType.UINT16, {}, "needs 1 register"),
        ([0x4142], DataType.STRING, {"length": 3}, "needs 2 register"),
        ([0x4142], DataType.STRING, {}, "length"),
        ([0x10000], DataType.UINT16, {}, "outside 0..65535"),
        ([-1], DataType.INT16, {}, "outside 0..65535"),
        ([0, 0x10000], DataType.UINT32, {}, "outside 0..65535"),
        ([1], DataType.UINT16, {"bit": 0}, "only valid for bool"),
        ([1], DataType.BOOL, {"bit": 16}, "0..15"),
        ([1], DataType.BOOL, {"bit": -1}, "0..15"),
    ],
)
def test_decode_errors(
    registers: list[int], data_type: DataType, kwargs: dict[str, int], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        decode(registers, data_type, bit=kwargs.get("bit"), length=kwargs.get("length"))


@pytest.mark.parametrize(
    ("value", "data_type", "length"),
    [
        (32768, DataType.INT16, None),
        (-32769, DataType.INT16, None),
        (-1, DataType.UINT16, None),
        (65536, DataType.UINT16, None),
        (2**31, DataType.INT32, None),
        (-(2**31) - 1, DataType.INT32, None),
        (-1, DataType.UINT32, None),
        (2**32, DataType.UINT32, None),
        (2**63, DataType.INT64, None),
        (-1, DataType.UINT64, None),
        (2**64, DataType.UINT64, None),
        (1.5, DataType.INT16, None),
        (1e39, DataType.FLOAT32, None),
        (2, DataType.BOOL, None),
        ("TOOLONG", DataType.STRING, 6),
        ("éé", DataType.STRING, 3),  # 4 bytes in UTF-8
        ("A", DataType.STRING, None),
    ],
)
def test_encode_value_errors(
    value: int | float | str, data_type: DataType, length: int | None
) -> None:
    with pytest.raises(ValueError):
        encode(value, data_type, length=length)


@pytest.mark.parametrize(
    ("value", "data_type"),
    [
        ("12", DataType.INT16),
        (True, DataType.FLOAT32),
        (True, DataType.INT32),
        (7, DataType.STRING),
        (1.0, DataType.BOOL),
        ("on", DataType.BOOL),
    ],
)
def test_encode_type_errors(value: bool | int | float | str, data_type: DataType) -> None:
    with pytest.raises(TypeError):
        encode(value, data_type, length=4 if data_type is DataType.STRING else None)


def test_encode_accepts_integral_float_for_int() -> None:
    assert encode(-2.0, DataType.INT16) == [0xFFFE]


@pytest.mark.parametrize(
    ("raw", "scale", "offset", "expected"),
    [
        (10, 1.0, 0.0, 10),
        (2.5, 1.0, 0.0, 2.5),
        (-7, 1, 0, -7),
        (10, 0.1, 0.0, 1.0),
        (100, 0.5, -20.0, 30.0),
        (-4, 2.0, 1.0, -7.0),
        (10, 1.0, 5.0, 15.0),
        (3.0, -1.0, 0.0, -3.0),
    ],
)
def test_apply_scale(raw: int | float, scale: float, offset: float, expected: int | float) -> None:
    got = apply_scale(raw, scale, offset)
    assert got == pytest.approx(expected)
    assert type(got) is type(expected)


def test_apply_scale_identity_keeps_exact_int() -> None:
    big = 2**63 - 1  # not representable as float
    assert apply_scale(big) == big
    assert isinstance(apply_scale(big), int)
