"""Modbus TCP and RTU adapter: one poll reads every tag of a device in as few block requests
as the protocol allows.

The only module that imports pymodbus. pymodbus's own reconnect loop is switched off: a lost
device raises ``ConnectError`` and the agent's supervisor decides when to try again. Devices on
one serial line share its connection and take turns under one lock, so polls never overlap on
the wire; each still has its own supervisor, so a dead unit times out and backs off alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, Self

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from protocols.base import ConnectError, Reading, ReadTimeout, WriteRefused
from protocols.config import ModbusRtuSource, ModbusTag, ModbusTcpSource
from protocols.modbus_decode import DataType, apply_scale, decode, encode, register_count
from protocols.modbus_plan import Block, Span, plan_blocks
from protocols.wire import Quality, Scalar, utc_now

log = logging.getLogger(__name__)

_BIT_TABLES = ("coil", "discrete")


def tag_span(tag: ModbusTag) -> Span:
    """The registers (or bits) a tag occupies."""
    count = 1 if tag.table in _BIT_TABLES else register_count(tag.type, tag.length)
    return Span(table=tag.table, address=tag.address, count=count, key=tag.name)


Client = AsyncModbusTcpClient | AsyncModbusSerialClient


class _Line:
    """One connection to the wire and the lock that keeps its requests from overlapping.

    A TCP device has a line of its own; the devices of one serial line share one, counted by
    users, opened by the first and closed by the last.
    """

    def __init__(self, name: str, make_client: Callable[[], Client]) -> None:
        self.name = name
        self.lock = asyncio.Lock()
        self._make_client = make_client
        self.client: Client | None = None
        self._users = 0

    async def open(self) -> Client:
        if self.client is None or not self.client.connected:
            client = self._make_client()
            try:
                connected = await client.connect()
            except (OSError, ModbusException) as exc:
                client.close()
                raise ConnectError(f"cannot connect to {self.name}: {exc}") from exc
            if not connected:
                client.close()
                raise ConnectError(f"cannot connect to {self.name}")
            self.client = client
        self._users += 1
        return self.client

    def close(self) -> None:
        self._users -= 1
        if self._users <= 0 and self.client is not None:
            self.client.close()
            self.client = None


_SERIAL_LINES: dict[str, _Line] = {}
"""Open serial lines of this process by device path."""


def _line_for(config: ModbusTcpSource | ModbusRtuSource) -> _Line:
    if isinstance(config, ModbusTcpSource):
        host, port, timeout = config.host, config.port, config.timeout
        return _Line(
            f"{host}:{port}",
            # retries=0 and reconnect_delay=0: reconnects are the supervisor's job
            lambda: AsyncModbusTcpClient(
                host, port=port, timeout=timeout, retries=0, reconnect_delay=0
            ),
        )
    serial = config.serial
    line = _SERIAL_LINES.get(serial.device)
    if line is None:
        line = _SERIAL_LINES[serial.device] = _Line(
            serial.device,
            lambda: AsyncModbusSerialClient(
                serial.device,
                framer=FramerType.RTU,
                baudrate=serial.baudrate,
                parity=serial.parity,
                stopbits=serial.stopbits,
                bytesize=serial.bytesize,
                timeout=config.timeout,
                retries=0,
                reconnect_delay=0,
            ),
        )
    return line


class ModbusDevice:
    """A polled Modbus device, over TCP or on a serial line.

    Args:
        config: The device and its tag table.
        clock: Returns the current UTC time; tests pass their own.
    """

    def __init__(
        self,
        config: ModbusTcpSource | ModbusRtuSource,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.name = config.name
        self._config = config
        self._clock = clock
        self._tags = {tag.name: tag for tag in config.tags}
        self._blocks = plan_blocks((tag_span(tag) for tag in config.tags), max_gap=config.max_gap)
        self._line: _Line | None = None

    @property
    def blocks(self) -> list[Block]:
        return list(self._blocks)

    def tags(self) -> list[str]:
        return list(self._tags)

    async def __aenter__(self) -> Self:
        if self._line is not None:
            raise RuntimeError(f"source {self.name} is already open")
        line = _line_for(self._config)
        try:
            await line.open()
        except ConnectError as exc:
            raise ConnectError(f"{self.name}: {exc}") from exc
        self._line = line
        return self

    async def __aexit__(self, *exc: object) -> None:
        line, self._line = self._line, None
        if line is not None:
            line.close()

    async def scans(self) -> AsyncIterator[list[Reading]]:
        """One scan per ``poll_interval``, measured from the start of each scan."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            yield await self.read()
            await asyncio.sleep(max(0.0, self._config.poll_interval - (loop.time() - started)))

    async def write(self, tag: str, value: Scalar) -> None:
        """Write a value in engineering units (scale and offset are undone here)."""
        spec = self._tags.get(tag)
        if spec is None or not spec.writable:
            raise WriteRefused(f"{self.name}: tag {tag!r} is not writable")
        unit = self._config.unit
        if spec.table == "coil":
            if not isinstance(value, bool):
                raise WriteRefused(f"{self.name}: {tag} takes true or false, not {value!r}")
            response = await self._call(
                lambda client: client.write_coil(spec.address, value, device_id=unit)
            )
        else:
            try:
                registers = encode(
                    _unscale(spec, value),
                    spec.type,
                    byte_order=spec.byte_order,
                    word_order=spec.word_order,
                    length=spec.length,
                )
            except (TypeError, ValueError) as exc:
                raise WriteRefused(f"{self.name}: {tag}: {exc}") from exc
            response = await self._call(
                lambda client: client.write_registers(spec.address, registers, device_id=unit)
            )
        if response.isError():
            code = getattr(response, "exception_code", "?")
            raise WriteRefused(f"{self.name}: {tag}: device refused the write (exception {code})")

    async def read(self) -> list[Reading]:
        """Read every block once; a block the device refuses gives its tags bad quality."""
        readings: list[Reading] = []
        for block in self._blocks:
            readings.extend(await self._read_block(block))
        return readings

    async def _read_block(self, block: Block) -> list[Reading]:
        response = await self._request(block)
        now = self._clock()
        if response.isError():
            reason = f"modbus exception {getattr(response, 'exception_code', '?')}"
            return [self._bad(span.key, now, reason) for span in block.spans]
        words: list[int] | list[bool] = (
            response.bits if block.table in _BIT_TABLES else response.registers
        )
        readings = []
        for span in block.spans:
            start = span.address - block.address
            raw = words[start : start + span.count]
            tag = self._tags[span.key]
            try:
                value = self._decode(tag, raw)
            except ValueError as exc:
                readings.append(self._bad(tag.name, now, f"decode: {exc}"))
                continue
            readings.append(Reading(tag.name, value, Quality.GOOD, now, now))
        return readings

    async def _request(self, block: Block) -> Any:
        def read(client: Client) -> Awaitable[Any]:
            function = {
                "holding": client.read_holding_registers,
                "input": client.read_input_registers,
                "coil": client.read_coils,
                "discrete": client.read_discrete_inputs,
            }[block.table]
            return function(block.address, count=block.count, device_id=self._config.unit)

        return await self._call(read)

    async def _call(self, request: Callable[[Client], Awaitable[Any]]) -> Any:
        """One request on the wire, under the line's lock; library errors become ours."""
        line = self._line
        client = None if line is None else line.client
        if line is None or client is None or not client.connected:
            raise ConnectError(f"{self.name}: not connected")
        try:
            async with line.lock:
                return await request(client)
        except ConnectionException as exc:
            raise ConnectError(f"{self.name}: connection lost: {exc}") from exc
        except ModbusIOException as exc:
            raise ReadTimeout(f"{self.name}: no answer within {self._config.timeout}s") from exc
        except ModbusException as exc:
            raise ConnectError(f"{self.name}: {exc}") from exc

    @staticmethod
    def _decode(tag: ModbusTag, raw: list[int] | list[bool]) -> Scalar:
        if tag.table in _BIT_TABLES:
            return bool(raw[0])
        value = decode(
            [int(word) for word in raw],
            tag.type,
            byte_order=tag.byte_order,
            word_order=tag.word_order,
            bit=tag.bit,
            length=tag.length,
        )
        if isinstance(value, (bool, str)) or tag.type is DataType.BOOL:
            return value
        return apply_scale(value, tag.scale, tag.offset)

    def _bad(self, tag: str, now: datetime, reason: str) -> Reading:
        return Reading(tag, None, Quality.BAD, now, now, {"reason": reason})


def _unscale(spec: ModbusTag, value: Scalar) -> bool | int | float | str:
    """Engineering value back to the raw register value."""
    if value is None:
        raise ValueError("cannot write an empty value")
    if isinstance(value, (bool, str)) or (spec.scale == 1.0 and spec.offset == 0.0):
        return value
    raw = (value - spec.offset) / spec.scale
    integral = spec.type not in (DataType.FLOAT32, DataType.FLOAT64)
    return round(raw) if integral else raw
