"""Configuration of Modbus TCP and RTU sources and their tags (no pymodbus import here)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from protocols.config_base import Interval, PathError, StrictConfig, TagName
from protocols.modbus_decode import DataType, Order


class ModbusTag(StrictConfig):
    """One point in a Modbus device."""

    name: TagName
    table: Literal["holding", "input", "coil", "discrete"] = "holding"
    address: int = Field(ge=0, le=65535)
    type: DataType = DataType.UINT16
    byte_order: Order = Order.BIG
    word_order: Order = Order.BIG
    bit: int | None = Field(default=None, ge=0, le=15)
    length: int | None = Field(default=None, ge=1, le=250)
    scale: float = 1.0
    offset: float = 0.0
    writable: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        bit_table = self.table in ("coil", "discrete")
        if bit_table and self.type is not DataType.BOOL:
            raise ValueError(f"a {self.table} holds one bit: type must be bool, not {self.type}")
        if self.bit is not None and (bit_table or self.type is not DataType.BOOL):
            raise ValueError("bit selects one bit of a register: use it with type bool only")
        if (self.type is DataType.STRING) != (self.length is not None):
            raise ValueError("length is required for type string and only allowed there")
        if self.writable and (self.table in ("input", "discrete") or self.bit is not None):
            what = "a bit in a register" if self.bit is not None else f"the {self.table} table"
            raise ValueError(f"writable: {what} cannot be written")
        return self


class _ModbusDevice(StrictConfig):
    """What every Modbus device has, whatever the wire."""

    name: TagName
    unit: int = Field(default=1, ge=0, le=255)
    poll_interval: Interval = 1.0
    timeout: Interval = 2.0
    max_gap: int = Field(default=0, ge=0, le=100)
    tags: list[ModbusTag] = Field(min_length=1)

    def tag_paths(self) -> list[tuple[str, str]]:
        """Every tag with the key path that names it (for error messages)."""
        return [(f"tags[{i}].name", tag.name) for i, tag in enumerate(self.tags)]

    def writable_tags(self) -> list[str]:
        return [tag.name for tag in self.tags if tag.writable]

    def tag_prefixes(self) -> list[str]:
        return []

    @model_validator(mode="after")
    def _unique_tags(self) -> Self:
        seen: set[str] = set()
        for index, tag in enumerate(self.tags):
            if tag.name in seen:
                raise PathError(f"tags[{index}].name", f"tag {tag.name!r} is defined twice")
            seen.add(tag.name)
        return self


class ModbusTcpSource(_ModbusDevice):
    """A Modbus TCP device (or gateway) polled at a fixed interval."""

    kind: Literal["modbus_tcp"]
    host: str
    port: int = Field(default=502, ge=1, le=65535)


class SerialLine(StrictConfig):
    """An RS-485/RS-232 line. Every device on one line must give the same settings."""

    device: str = Field(min_length=1, description="e.g. /dev/ttyUSB0")
    baudrate: int = Field(default=19200, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class ModbusRtuSource(_ModbusDevice):
    """A Modbus RTU device on a serial line. Devices sharing a line poll in turn (one lock per
    line), each in its own task: a dead device times out and backs off on its own."""

    kind: Literal["modbus_rtu"]
    serial: SerialLine
