"""Serves the simulated plant over Modbus TCP (pymodbus server, unit 1, holding registers).

The register map is public (``REGISTER_MAP``) so example configs and tests agree with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from protocols.modbus_decode import DataType, encode, register_count
from protocols.sim.plant import Plant

log = logging.getLogger(__name__)

UNIT = 1
REGISTERS = 64
_WRITE_REGISTERS = 16  # function code used to load values into the simulator's datastore


@dataclass(frozen=True)
class Point:
    tag: str
    address: int
    type: DataType
    length: int | None = None

    @property
    def count(self) -> int:
        return register_count(self.type, self.length)


REGISTER_MAP: tuple[Point, ...] = (
    Point("press.temperature", 0, DataType.FLOAT32),
    Point("press.pressure", 2, DataType.FLOAT32),
    Point("press.cycle_count", 4, DataType.UINT32),
    Point("press.state", 6, DataType.UINT16),
    Point("oven.zone1", 10, DataType.FLOAT32),
    Point("oven.zone2", 12, DataType.FLOAT32),
    Point("oven.zone3", 14, DataType.FLOAT32),
    Point("pack.count", 20, DataType.UINT32),
    Point("pack.lot", 22, DataType.STRING, length=8),
    Point("silo.level", 30, DataType.FLOAT32),
)


class ModbusPlantServer:
    """A pymodbus TCP server whose registers follow the plant; it can be stopped to fake comm loss.

    Args:
        plant: The plant whose values are served.
        host: Loopback by default; the simulator is never meant for a plant network.
        port: TCP port.
    """

    def __init__(self, plant: Plant, host: str = "127.0.0.1", port: int = 5020) -> None:
        self.plant = plant
        self.host = host
        self.port = port
        self.requests = 0
        self._server: ModbusTcpServer | None = None

    @property
    def serving(self) -> bool:
        return self._server is not None

    def _count(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            self.requests += 1
        return pdu

    async def start(self) -> None:
        if self._server is not None:
            return
        device = SimDevice(
            id=UNIT,
            simdata=[SimData(address=0, count=REGISTERS, values=0, datatype=SimType.REGISTERS)],
        )
        server = ModbusTcpServer([device], address=(self.host, self.port), trace_pdu=self._count)
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            raise OSError(f"modbus sim cannot listen on {self.host}:{self.port}") from exc
        self._server = server
        await self.publish()
        log.info("modbus sim serving on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]
            log.info("modbus sim stopped")

    async def publish(self) -> None:
        """Copy the plant's current values into the registers."""
        if self._server is None:
            return
        values = self.plant.values()
        for point in REGISTER_MAP:
            value = values[point.tag]
            assert value is not None, f"the plant always has a value for {point.tag}"
            registers = encode(value, point.type, length=point.length)
            await self._server.context.async_setValues(
                UNIT, _WRITE_REGISTERS, point.address, registers
            )

    async def __aenter__(self) -> ModbusPlantServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
