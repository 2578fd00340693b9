"""Modbus RTU for real: a pymodbus serial server on one end of a socat pty pair, our adapter
on the other; two units share the line, a third never answers."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymodbus import FramerType
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from protocols.base import ReadTimeout
from protocols.config import ModbusRtuSource
from protocols.modbus import ModbusDevice
from protocols.modbus_decode import DataType as PointType
from protocols.modbus_decode import encode
from protocols.wire import Quality

BAUD = 115200


@pytest.fixture
async def serial_pair(tmp_path: Path) -> AsyncIterator[tuple[str, ModbusSerialServer]]:
    """(the agent's end of the line, the server on the other end serving units 1 and 2)."""
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail(
            "socat is not installed: RTU tests need a virtual serial pair (apt-get install socat)",
            pytrace=False,
        )
    ours, theirs = tmp_path / "ttyAgent", tmp_path / "ttyPlc"
    pair = subprocess.Popen(  # noqa: ASYNC220 - starting socat takes microseconds
        [socat, f"pty,raw,echo=0,link={ours}", f"pty,raw,echo=0,link={theirs}"],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while not (ours.exists() and theirs.exists()):
        assert time.monotonic() < deadline, "socat did not create the pty pair"
        await asyncio.sleep(0.02)
    devices = [
        SimDevice(
            id=unit, simdata=[SimData(address=0, count=20, values=0, datatype=DataType.REGISTERS)]
        )
        for unit in (1, 2)
    ]
    server = ModbusSerialServer(
        devices, framer=FramerType.RTU, port=str(theirs), baudrate=BAUD, ignore_missing_devices=True
    )
    # pymodbus 3.16's simulator raises KeyError for an unknown unit instead of the
    # NoSuchIdException its server needs to stay silent; give it that, so unit 3 is
    # absent from the line the way a unit without power is.
    lookup = server.context.async_getValues

    async def get_values(device_id: int, func_code: int, address: int, count: int = 1) -> Any:
        if device_id not in (1, 2):
            raise NoSuchIdException(f"no unit {device_id}")
        return await lookup(device_id, func_code, address, count)

    server.context.async_getValues = get_values  # type: ignore[method-assign]
    await server.serve_forever(background=True)
    for unit in (1, 2):
        # unit 1: 21.5 as float32 at 0, unit 2: 22.5; and a counter at 4 (uint32)
        await server.context.async_setValues(unit, 16, 0, encode(20.5 + unit, PointType.FLOAT32))
        await server.context.async_setValues(unit, 16, 4, encode(1000 * unit, PointType.UINT32))
    try:
        yield str(ours), server
    finally:
        await server.shutdown()  # type: ignore[no-untyped-call]
        pair.terminate()
        pair.wait(timeout=5)


def _device(line: str, unit: int, timeout: float = 0.5) -> ModbusDevice:
    return ModbusDevice(
        ModbusRtuSource.model_validate(
            {
                "kind": "modbus_rtu",
                "name": f"unit{unit}",
                "unit": unit,
                "timeout": timeout,
                "max_gap": 2,
                "serial": {"device": line, "baudrate": BAUD},
                "tags": [
                    {"name": f"u{unit}.temperature", "address": 0, "type": "float32"},
                    {"name": f"u{unit}.count", "address": 4, "type": "uint32"},
                ],
            }
        )
    )


async def test_two_units_share_one_line_without_overlapping(
    serial_pair: tuple[str, ModbusSerialServer],
) -> None:
    line, _ = serial_pair
    async with _device(line, 1) as one, _device(line, 2) as two:

        async def scans(device: ModbusDevice) -> list[dict[str, object]]:
            return [{r.tag: r.value for r in await device.read()} for _ in range(20)]

        # Both poll at once; the line lock serialises them, so no answer is mixed up.
        first, second = await asyncio.gather(scans(one), scans(two))
    assert all(s == {"u1.temperature": 21.5, "u1.count": 1000} for s in first)
    assert all(s == {"u2.temperature": 22.5, "u2.count": 2000} for s in second)


async def test_a_dead_unit_times_out_alone(serial_pair: tuple[str, ModbusSerialServer]) -> None:
    line, _ = serial_pair
    async with _device(line, 1) as alive, _device(line, 3, timeout=0.3) as dead:
        with pytest.raises(ReadTimeout, match="no answer"):
            await dead.read()
        readings = await alive.read()
    assert [r.quality for r in readings] == [Quality.GOOD, Quality.GOOD]
    assert readings[0].value == 21.5
