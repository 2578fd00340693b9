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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Self

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from protocols.base import NO_CONTEXT, ConnectError, Reading, ReadTimeout, WriteRefused
from protocols.config import ModbusRtuSource, ModbusTag, ModbusTcpSource
from protocols.modbus_decode import DataType, Order, compile_decoder, encode, register_count
from protocols.modbus_plan import Block, Span, plan_blocks
from protocols.wire import Quality, Scalar, utc_now

log = logging.getLogger(__name__)

_BIT_TABLES = ("coil", "discrete")
_new_reading = tuple.__new__
"""Builds a Reading from a ready tuple with no Python frame in between (``Reading(...)`` and
``Reading._make`` each add one): a scan makes one Reading per register, and at 1,000 registers
per scan this is about 6% of the adapter's CPU (bench/bench_modbus.py)."""
# The tuples below are positional: a field added to Reading must be added there too.
assert Reading._fields == ("tag", "value", "quality", "source_time", "receive_time", "context")


def tag_span(tag: ModbusTag) -> Span:
    """The registers (or bits) a tag occupies."""
    count = 1 if tag.table in _BIT_TABLES else register_count(tag.type, tag.length)
    return Span(table=tag.table, address=tag.address, count=count, key=tag.name)


Client = AsyncModbusTcpClient | AsyncModbusSerialClient
_Point = tuple[str, int, int, Callable[[Sequence[Any]], Scalar] | None]
"""(tag, first word, end word, decoder) of one point inside a block's answer; no decoder for a
plain uint16 register, the most common point, whose value is the word itself."""


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
        # Per block, where each point sits in the answer and how to decode it: worked out once,
        # because a scan decodes every point of every block.
        decoders = {tag.name: _decoder(tag) for tag in config.tags}
        self._layout = [
            [
                (
                    span.key,
                    span.address - block.address,
                    span.address - block.address + span.count,
                    decoders[span.key],
                )
                for span in block.spans
            ]
            for block in self._blocks
        ]
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
        for block, layout in zip(self._blocks, self._layout, strict=True):
            readings.extend(await self._read_block(block, layout))
        return readings

    async def _read_block(self, block: Block, layout: list[_Point]) -> list[Reading]:
        response = await self._request(block)
        now = self._clock()
        if response.isError():
            reason = f"modbus exception {getattr(response, 'exception_code', '?')}"
            return [self._bad(span.key, now, reason) for span in block.spans]
        words: list[int] | list[bool] = (
            response.bits if block.table in _BIT_TABLES else response.registers
        )
        good, new = Quality.GOOD, _new_reading
        try:
            return [
                new(
                    Reading,
                    (
                        key,
                        words[start] if decoder is None else decoder(words[start:end]),
                        good,
                        now,
                        now,
                        NO_CONTEXT,
                    ),
                )
                for key, start, end, decoder in layout
            ]
        except ValueError:
            return self._decode_one_by_one(layout, words, now)

    def _decode_one_by_one(
        self, layout: list[_Point], words: Sequence[Any], now: datetime
    ) -> list[Reading]:
        """The slow path, when a point cannot be decoded: the others still are."""
        readings = []
        for key, start, end, decoder in layout:
            try:
                value = words[start] if decoder is None else decoder(words[start:end])
                readings.append(Reading(key, value, Quality.GOOD, now, now))
            except ValueError as exc:
                readings.append(self._bad(key, now, f"decode: {exc}"))
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

    def _bad(self, tag: str, now: datetime, reason: str) -> Reading:
        return Reading(tag, None, Quality.BAD, now, now, {"reason": reason})


def _decoder(tag: ModbusTag) -> Callable[[Sequence[Any]], Scalar] | None:
    plain = tag.scale == 1.0 and tag.offset == 0.0
    is_word = tag.table not in _BIT_TABLES and tag.type is DataType.UINT16
    if is_word and plain and tag.byte_order is Order.BIG:
        return None
    if tag.table in _BIT_TABLES:
        return lambda bits: bool(bits[0])
    if tag.type is DataType.BOOL:  # a register, or one bit of it: never scaled
        return compile_decoder(tag.type, byte_order=tag.byte_order, bit=tag.bit)
    return compile_decoder(
        tag.type,
        byte_order=tag.byte_order,
        word_order=tag.word_order,
        bit=tag.bit,
        length=tag.length,
        scale=tag.scale,
        offset=tag.offset,
    )


def _unscale(spec: ModbusTag, value: Scalar) -> bool | int | float | str:
    """Engineering value back to the raw register value."""
    if value is None:
        raise ValueError("cannot write an empty value")
    if isinstance(value, (bool, str)) or (spec.scale == 1.0 and spec.offset == 0.0):
        return value
    raw = (value - spec.offset) / spec.scale
    integral = spec.type not in (DataType.FLOAT32, DataType.FLOAT64)
    return round(raw) if integral else raw
