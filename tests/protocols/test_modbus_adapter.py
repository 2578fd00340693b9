"""The Modbus TCP adapter against the real pymodbus server of the simulated plant."""

from __future__ import annotations

import asyncio
import math

import pytest

from protocols.base import ConnectError, WriteRefused
from protocols.config import ModbusTcpSource
from protocols.modbus import ModbusDevice
from protocols.sim.modbus_server import REGISTER_MAP, ModbusPlantServer
from protocols.sim.plant import Fault, Plant
from protocols.wire import Quality
from tests.conftest import free_port


def _source(port: int, **extra: object) -> ModbusTcpSource:
    tags = [
        {"name": p.tag, "address": p.address, "type": p.type, "length": p.length}
        for p in REGISTER_MAP
    ]
    return ModbusTcpSource.model_validate(
        {
            "kind": "modbus_tcp",
            "name": "press",
            "host": "127.0.0.1",
            "port": port,
            "timeout": 1,
            "tags": tags,
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("max_gap", "requests_per_scan"),
    [
        (0, 4),  # registers 0-6, 10-15, 20-25, 30-31
        (4, 1),  # every gap is at most 4 registers: one request for 0-31
    ],
)
async def test_reads_every_plant_value_in_coalesced_requests(
    max_gap: int, requests_per_scan: int
) -> None:
    plant = Plant(seed=3)
    plant.inject(Fault.OVERTEMP)
    plant.step(5.0)
    port = free_port()
    async with ModbusPlantServer(plant, port=port) as server:
        source = ModbusDevice(_source(port, max_gap=max_gap))
        async with source:
            before = server.requests
            readings = await source.read()
            requests = server.requests - before
    expected = plant.values()
    assert {r.tag for r in readings} == set(expected)
    for reading in readings:
        assert reading.quality is Quality.GOOD
        want = expected[reading.tag]
        if isinstance(want, float):
            assert isinstance(reading.value, float)
            assert math.isclose(reading.value, want, rel_tol=1e-6)
        else:
            assert reading.value == want
    assert len(source.blocks) == requests_per_scan
    assert requests == requests_per_scan


async def test_register_outside_the_device_gives_bad_quality_with_the_reason() -> None:
    port = free_port()
    config = ModbusTcpSource.model_validate(
        {
            "kind": "modbus_tcp",
            "name": "press",
            "host": "127.0.0.1",
            "port": port,
            "tags": [{"name": "ok", "address": 0}, {"name": "missing", "address": 500}],
        }
    )
    async with ModbusPlantServer(Plant(), port=port), ModbusDevice(config) as source:
        readings = {r.tag: r for r in await source.read()}
    assert readings["ok"].quality is Quality.GOOD
    assert readings["missing"].quality is Quality.BAD
    assert readings["missing"].value is None
    assert readings["missing"].context["reason"] == "modbus exception 2"


async def test_unreachable_device_raises_connect_error() -> None:
    source = ModbusDevice(_source(free_port()))
    with pytest.raises(ConnectError, match="cannot connect"):
        await source.__aenter__()


async def test_server_stop_mid_session_raises_connect_error() -> None:
    port = free_port()
    server = ModbusPlantServer(Plant(), port=port)
    await server.start()
    try:
        async with ModbusDevice(_source(port)) as source:
            assert await source.read()
            await server.stop()
            await asyncio.sleep(0.1)
            with pytest.raises((ConnectError,)):
                await source.read()
    finally:
        await server.stop()


async def test_write_goes_to_the_device_in_raw_units_and_refuses_unlisted_tags() -> None:
    port = free_port()
    config = ModbusTcpSource.model_validate(
        {
            "kind": "modbus_tcp",
            "name": "press",
            "host": "127.0.0.1",
            "port": port,
            "tags": [
                {
                    "name": "setpoint",
                    "address": 40,
                    "type": "int16",
                    "scale": 0.1,
                    "writable": True,
                },
                {"name": "speed", "address": 42, "type": "float32", "writable": True},
                {"name": "state", "address": 6},
            ],
        }
    )
    async with ModbusPlantServer(Plant(), port=port), ModbusDevice(config) as source:
        await source.write("setpoint", -12.5)
        await source.write("speed", 1.25)
        with pytest.raises(WriteRefused, match="not writable"):
            await source.write("state", 0)
        with pytest.raises(WriteRefused, match="not writable"):
            await source.write("nope", 0)
        with pytest.raises(WriteRefused, match="range"):
            await source.write("setpoint", 99999)
        readings = {r.tag: r.value for r in await source.read()}
    assert readings["setpoint"] == -12.5
    assert readings["speed"] == 1.25
