"""Pydantic models for field sources, validated once when the agent starts.

They live beside the adapters (not in edge_agent) so each adapter can take its own model without
importing the agent, and they import no protocol library, so checking a config stays cheap.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from protocols.modbus_decode import DataType, Order

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, None: 1.0}


def _parse_duration(value: object) -> object:
    """Accept seconds as a number or text like ``500ms``, ``2s``, ``15min``, ``1h``."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"not a duration: {value!r} (use e.g. 500ms, 2s, 15min, 1h)")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(_parse_duration), Field(ge=0)]
"""Seconds; in YAML a number or text such as ``500ms``, ``2s``, ``15min``, ``1h``."""

TagName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,199}$")]


class PathError(ValueError):
    """A cross-field error that knows which key, below the model, is wrong.

    ``check-config`` appends ``path`` to the location pydantic reports, so the user reads
    ``sources[0].tags[3].name`` rather than just ``sources[0]``.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


class StrictConfig(BaseModel):
    """Config models refuse unknown keys: a typo must fail loudly, not be ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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


class ModbusTcpSource(StrictConfig):
    """A Modbus TCP device (or gateway) polled at a fixed interval."""

    kind: Literal["modbus_tcp"]
    name: TagName
    host: str
    port: int = Field(default=502, ge=1, le=65535)
    unit: int = Field(default=1, ge=0, le=255)
    poll_interval: Duration = 1.0
    timeout: Duration = 2.0
    max_gap: int = Field(default=0, ge=0, le=100)
    tags: list[ModbusTag] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_tags(self) -> Self:
        seen: set[str] = set()
        for index, tag in enumerate(self.tags):
            if tag.name in seen:
                raise PathError(f"tags[{index}].name", f"tag {tag.name!r} is defined twice")
            seen.add(tag.name)
        return self


SourceConfig = ModbusTcpSource
"""Every source kind the agent can read (OPC UA and MQTT join this union)."""
