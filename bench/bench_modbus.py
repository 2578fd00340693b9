"""Modbus scans/s through our adapter vs a raw pymodbus loop issuing the same requests.

1,000 uint16 registers in 10 blocks of 100 (gaps of 50 between blocks): the planner must read
them in 10 requests per scan, counted at the server. Both sides talk to the same pymodbus
server on loopback in the same run, alternating rounds; bounded by SCANS and SECONDS.
"""

from __future__ import annotations

import asyncio
import socket
import time

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from protocols.config import ModbusTcpSource
from protocols.modbus import ModbusDevice

BLOCKS, PER_BLOCK, GAP = 10, 100, 50
SCANS, SECONDS, ROUNDS = 300, 10.0, 3


async def raw_loop(port: int) -> float:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, retries=0, reconnect_delay=0)
    await client.connect()
    started = time.perf_counter()
    scans = 0
    while scans < SCANS and time.perf_counter() - started < SECONDS:
        for block in range(BLOCKS):
            response = await client.read_holding_registers(
                block * (PER_BLOCK + GAP), count=PER_BLOCK, device_id=1
            )
            assert not response.isError()
        scans += 1
    elapsed = time.perf_counter() - started
    client.close()
    return scans / elapsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def adapter_loop(port: int) -> tuple[float, int]:
    """Scans per second, and the number of scans made."""
    tags = [
        {"name": f"b{block}.r{offset}", "address": block * (PER_BLOCK + GAP) + offset}
        for block in range(BLOCKS)
        for offset in range(PER_BLOCK)
    ]
    config = ModbusTcpSource.model_validate(
        {"kind": "modbus_tcp", "name": "bench", "host": "127.0.0.1", "port": port, "tags": tags}
    )
    device = ModbusDevice(config)
    async with device:
        started = time.perf_counter()
        scans = 0
        while scans < SCANS and time.perf_counter() - started < SECONDS:
            readings = await device.read()
            assert len(readings) == BLOCKS * PER_BLOCK
            scans += 1
        elapsed = time.perf_counter() - started
    return scans / elapsed, scans


async def main() -> None:
    requests = 0

    def count(sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        nonlocal requests
        requests += 0 if sending else 1
        return pdu

    size = BLOCKS * (PER_BLOCK + GAP)
    device = SimDevice(
        id=1, simdata=[SimData(address=0, count=size, values=7, datatype=DataType.REGISTERS)]
    )
    port = free_port()
    server = ModbusTcpServer([device], address=("127.0.0.1", port), trace_pdu=count)
    await server.serve_forever(background=True)
    raw, ours = [], []
    per_scan = 0.0
    try:
        for _ in range(ROUNDS):
            raw.append(await raw_loop(port))
            before = requests
            scans_per_s, scans = await adapter_loop(port)
            ours.append(scans_per_s)
            per_scan = (requests - before) / scans
    finally:
        await server.shutdown()  # type: ignore[no-untyped-call]
    best_raw, best_ours = max(raw), max(ours)
    print(f"1,000 registers in {BLOCKS} blocks, loopback, best of {ROUNDS} alternating rounds")
    print(f"raw pymodbus, {BLOCKS} requests/scan : {best_raw:8,.0f} scans/s")
    print(
        f"ModbusDevice.read              : {best_ours:8,.0f} scans/s "
        f"({best_ours / best_raw:.0%} of raw), {per_scan:g} requests per scan seen at the server"
    )


if __name__ == "__main__":
    asyncio.run(main())
