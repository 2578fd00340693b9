"""Pure decoding of Modbus registers into typed values (and back), for every type and order.

No I/O and no pymodbus here: the adapter hands in the raw 16-bit registers of one point.

Orders follow the usual "ABCD" naming, where A is the most significant byte of the value:

=============  ==========  =========  ==============================
byte_order     word_order  name       registers of ``0x12345678``
=============  ==========  =========  ==============================
big            big         ABCD       ``[0x1234, 0x5678]`` (Modbus)
big            little      CDAB       ``[0x5678, 0x1234]``
little         big         BADC       ``[0x3412, 0x7856]``
little         little      DCBA       ``[0x7856, 0x3412]``
=============  ==========  =========  ==============================
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Literal


class DataType(StrEnum):
    BOOL = "bool"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"


class Order(StrEnum):
    """Byte order within a register, or word order across registers."""

    BIG = "big"
    LITTLE = "little"


Value = bool | int | float | str

# Integer types: (register count, signed).
_INTS: dict[DataType, tuple[int, bool]] = {
    DataType.INT16: (1, True),
    DataType.UINT16: (1, False),
    DataType.INT32: (2, True),
    DataType.UINT32: (2, False),
    DataType.INT64: (4, True),
    DataType.UINT64: (4, False),
}
# Float types: (register count, big-endian struct format).
_FLOATS: dict[DataType, tuple[int, str]] = {
    DataType.FLOAT32: (2, ">f"),
    DataType.FLOAT64: (4, ">d"),
}


def register_count(data_type: DataType, length: int | None = None) -> int:
    """Registers one point occupies; the planner sizes its reads from this.

    ``length`` is the number of characters (bytes) of a string and is required for it; two
    characters share a register, so an odd length leaves one padding byte. Other types ignore it.
    """
    if data_type is DataType.STRING:
        return (_string_length(length) + 1) // 2
    if data_type is DataType.BOOL:
        return 1
    if data_type in _INTS:
        return _INTS[data_type][0]
    return _FLOATS[data_type][0]


def decode(
    registers: Sequence[int],
    data_type: DataType,
    *,
    byte_order: Order = Order.BIG,
    word_order: Order = Order.BIG,
    bit: int | None = None,
    length: int | None = None,
) -> Value:
    """Turn exactly one point's registers into its value.

    ``bit`` (0 = least significant) picks one bit of a single register as a bool, after the
    byte order is applied; a bool without ``bit`` is "register is not zero". Strings keep the
    registers in the order read (word order does not apply), are cut to ``length`` bytes,
    decoded as UTF-8 with replacement characters and stripped of trailing NULs and spaces.

    Raises:
        ValueError: wrong register count, a register outside 0..65535, or a bad ``bit``.
    """
    expected = register_count(data_type, length)
    if len(registers) != expected:
        raise ValueError(
            f"{data_type} needs {expected} register(s), got {len(registers)}: {list(registers)}"
        )
    for reg in registers:
        if not 0 <= reg <= 0xFFFF:
            raise ValueError(f"register value {reg} is outside 0..65535")

    if bit is not None:
        if data_type is not DataType.BOOL:
            raise ValueError(f"bit is only valid for bool, not {data_type}")
        if not 0 <= bit <= 15:
            raise ValueError(f"bit must be 0..15, got {bit}")
        word = int.from_bytes(registers[0].to_bytes(2, _endian(byte_order)), "big")
        return bool(word >> bit & 1)
    if data_type is DataType.BOOL:
        return registers[0] != 0

    if data_type is DataType.STRING:
        raw = _to_bytes(registers, byte_order, Order.BIG)[: _string_length(length)]
        return raw.decode("utf-8", errors="replace").rstrip("\x00 ")

    raw = _to_bytes(registers, byte_order, word_order)
    if data_type in _INTS:
        return int.from_bytes(raw, "big", signed=_INTS[data_type][1])
    value: float = struct.unpack(_FLOATS[data_type][1], raw)[0]
    return _shortest_float32(value, raw) if data_type is DataType.FLOAT32 else value


def _shortest_float32(value: float, raw: bytes) -> float:
    """The shortest decimal that is the same float32: 87.365, not 87.36499786376953."""
    if not math.isfinite(value):
        return value
    for digits in range(6, 10):
        short = float(f"{value:.{digits}g}")
        if struct.pack(">f", short) == raw:
            return short
    return value


def encode(
    value: Value,
    data_type: DataType,
    *,
    byte_order: Order = Order.BIG,
    word_order: Order = Order.BIG,
    length: int | None = None,
) -> list[int]:
    """The exact inverse of :func:`decode`, for the simulator and for approved writes.

    A bool becomes ``[1]`` or ``[0]`` (writing a single bit of a register is a read-modify-write
    that belongs to the adapter). Strings are UTF-8, NUL-padded to ``length`` bytes.

    Raises:
        ValueError: an integer outside the type's range (or not 0/1 for bool), a float too
            large for float32, a string longer than ``length``, or an integral type given a
            non-integral float.
        TypeError: a value of the wrong kind (e.g. a str for int16, a bool for float32).
    """
    count = register_count(data_type, length)
    if data_type is DataType.BOOL:
        if type(value) not in (bool, int):
            raise TypeError(f"bool needs True/False (or 0/1), got {value!r}")
        if value not in (0, 1):
            raise ValueError(f"bool needs True/False (or 0/1), got {value!r}")
        return [int(value)]

    if data_type is DataType.STRING:
        if not isinstance(value, str):
            raise TypeError(f"string needs a str, got {value!r}")
        raw = value.encode("utf-8")
        if len(raw) > _string_length(length):
            raise ValueError(f"{value!r} is {len(raw)} bytes, longer than length {length}")
        return _from_bytes(raw.ljust(count * 2, b"\x00"), byte_order, Order.BIG)

    if isinstance(value, bool | str):
        raise TypeError(f"{data_type} needs a number, got {value!r}")
    if data_type in _INTS:
        n_registers, signed = _INTS[data_type]
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{data_type} needs an integer, got {value!r}")
            value = int(value)
        try:
            raw = value.to_bytes(n_registers * 2, "big", signed=signed)
        except OverflowError as exc:
            raise ValueError(f"{value} is out of range for {data_type}") from exc
    else:
        try:
            raw = struct.pack(_FLOATS[data_type][1], value)
        except OverflowError as exc:
            raise ValueError(f"{value} is out of range for {data_type}") from exc
    return _from_bytes(raw, byte_order, word_order)


def apply_scale(raw: int | float, scale: float = 1.0, offset: float = 0.0) -> int | float:
    """Engineering value ``raw * scale + offset``.

    With the identity scale the raw value comes back untouched, so integer tags stay integers
    (and exact) unless a scale is actually configured.
    """
    if scale == 1 and offset == 0:
        return raw
    return raw * scale + offset


def _to_bytes(registers: Sequence[int], byte_order: Order, word_order: Order) -> bytes:
    """Registers -> the value's bytes, most significant first."""
    ordered = reversed(registers) if word_order is Order.LITTLE else registers
    return b"".join(reg.to_bytes(2, _endian(byte_order)) for reg in ordered)


def _from_bytes(raw: bytes, byte_order: Order, word_order: Order) -> list[int]:
    """The value's bytes, most significant first -> registers; inverse of :func:`_to_bytes`."""
    registers = [int.from_bytes(raw[i : i + 2], _endian(byte_order)) for i in range(0, len(raw), 2)]
    return registers[::-1] if word_order is Order.LITTLE else registers


def _endian(order: Order) -> Literal["big", "little"]:
    return "little" if order is Order.LITTLE else "big"


def _string_length(length: int | None) -> int:
    if length is None or length < 1:
        raise ValueError(f"string needs a length >= 1, got {length!r}")
    return length


Decoder = Callable[[Sequence[int]], "bool | int | float | str"]

_FLOAT32_BIG = struct.Struct(">HH")
_FLOAT32 = struct.Struct(">f")


def compile_decoder(
    data_type: DataType,
    *,
    byte_order: Order = Order.BIG,
    word_order: Order = Order.BIG,
    bit: int | None = None,
    length: int | None = None,
    scale: float = 1.0,
    offset: float = 0.0,
) -> Decoder:
    """A decoder for one point, made once: the same results as ``decode`` + ``apply_scale``,
    with the common cases (16-bit integers, big-endian float32) taken without the general path,
    because an agent decodes every register of every scan."""
    plain = scale == 1.0 and offset == 0.0
    if data_type is DataType.UINT16 and byte_order is Order.BIG and plain:
        return lambda registers: _one(registers)
    if data_type is DataType.INT16 and byte_order is Order.BIG and plain:
        return lambda registers: _signed16(_one(registers))
    if data_type is DataType.FLOAT32 and byte_order is Order.BIG and plain:
        first = 0 if word_order is Order.BIG else 1

        def float32(registers: Sequence[int]) -> float:
            if len(registers) != 2:
                raise ValueError(f"float32 needs 2 registers, got {len(registers)}")
            raw = _FLOAT32_BIG.pack(registers[first], registers[1 - first])
            return _shortest_float32(_FLOAT32.unpack(raw)[0], raw)

        return float32

    def general(registers: Sequence[int]) -> bool | int | float | str:
        value = decode(
            registers,
            data_type,
            byte_order=byte_order,
            word_order=word_order,
            bit=bit,
            length=length,
        )
        if isinstance(value, (bool, str)) or plain:
            return value
        return apply_scale(value, scale, offset)

    return general


def _one(registers: Sequence[int]) -> int:
    if len(registers) != 1:
        raise ValueError(f"needs 1 register, got {len(registers)}")
    return registers[0]


def _signed16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word
