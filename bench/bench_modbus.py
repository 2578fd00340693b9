"""Modbus scans/s through our adapter vs a raw pymodbus loop issuing the same requests.

1,000 uint16 registers in 10 blocks of 100 (gaps of 50 between blocks): the planner must read
them in 10 requests per scan. The pymodbus server runs in a separate process (so its work never
competes with the measured client for this process's GIL) and counts every request it answers;
the bench checks that the adapter sent exactly 10 per scan.

The raw loop and the adapter are measured alternately in ROUNDS short rounds each (the order
flips every round, so a drift of the machine's speed hits both alike), each round bounded by
SCANS and SECONDS; the medians and their ratio are printed. The whole run is bounded by
TIME_LIMIT.

    .venv/bin/python bench/bench_modbus.py
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from protocols.config import ModbusTcpSource
from protocols.modbus import ModbusDevice

BLOCKS, PER_BLOCK, GAP = 10, 100, 50
SCANS, SECONDS = 400, 1.5
"""Bounds of one round."""
ROUNDS = 5
TIME_LIMIT = 60.0
TARGET = 0.80


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the server process ------------------------------------------------------------------------


def serve(port: int, ready: Any, requests: Synchronized[int]) -> None:
    asyncio.run(_serve(port, ready, requests))


async def _serve(port: int, ready: Any, requests: Synchronized[int]) -> None:
    def count(sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            with requests.get_lock():
                requests.value += 1
        return pdu

    size = BLOCKS * (PER_BLOCK + GAP)
    device = SimDevice(
        id=1, simdata=[SimData(address=0, count=size, values=7, datatype=DataType.REGISTERS)]
    )
    server = ModbusTcpServer([device], address=("127.0.0.1", port), trace_pdu=count)
    await server.serve_forever(background=True)
    ready.set()
    await asyncio.Event().wait()  # until the parent terminates this process


# --- the two clients ---------------------------------------------------------------------------

Round = tuple[int, float, float]
"""(scans, seconds, CPU seconds of this process)."""


async def raw_round(port: int) -> Round:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, retries=0, reconnect_delay=0)
    await client.connect()
    try:
        started, cpu = time.perf_counter(), time.process_time()
        scans = 0
        while scans < SCANS and time.perf_counter() - started < SECONDS:
            for block in range(BLOCKS):
                response = await client.read_holding_registers(
                    block * (PER_BLOCK + GAP), count=PER_BLOCK, device_id=1
                )
                assert not response.isError()
            scans += 1
        return scans, time.perf_counter() - started, time.process_time() - cpu
    finally:
        client.close()


def adapter_config(port: int) -> ModbusTcpSource:
    tags = [
        {"name": f"b{block}.r{offset}", "address": block * (PER_BLOCK + GAP) + offset}
        for block in range(BLOCKS)
        for offset in range(PER_BLOCK)
    ]
    return ModbusTcpSource.model_validate(
        {"kind": "modbus_tcp", "name": "bench", "host": "127.0.0.1", "port": port, "tags": tags}
    )


async def adapter_round(port: int) -> Round:
    device = ModbusDevice(adapter_config(port))
    async with device:
        started, cpu = time.perf_counter(), time.process_time()
        scans = 0
        while scans < SCANS and time.perf_counter() - started < SECONDS:
            readings = await device.read()
            assert len(readings) == BLOCKS * PER_BLOCK
            scans += 1
        return scans, time.perf_counter() - started, time.process_time() - cpu


# --- the run -----------------------------------------------------------------------------------


async def measure(port: int, requests: Synchronized[int]) -> int:
    runs: dict[str, Callable[[int], Awaitable[Round]]] = {"raw": raw_round, "ours": adapter_round}
    rates: dict[str, list[float]] = {"raw": [], "ours": []}
    cpu_ms: dict[str, list[float]] = {"raw": [], "ours": []}
    our_scans = our_requests = 0
    deadline = time.monotonic() + TIME_LIMIT
    await raw_round(port)  # warm-up: imports, first connections, the server's caches
    for index in range(ROUNDS):
        order = ("raw", "ours") if index % 2 == 0 else ("ours", "raw")
        for name in order:
            if time.monotonic() > deadline:
                break
            before = requests.value
            scans, seconds, cpu = await runs[name](port)
            rates[name].append(scans / seconds)
            cpu_ms[name].append(cpu / scans * 1000)
            if name == "ours":
                our_scans += scans
                our_requests += requests.value - before
    per_scan = our_requests / our_scans if our_scans else 0.0
    raw, ours = statistics.median(rates["raw"]), statistics.median(rates["ours"])
    ratio = ours / raw
    print(
        f"1,000 registers in {BLOCKS} blocks, loopback, server in its own process; median of "
        f"{len(rates['ours'])} alternating rounds of <= {SCANS} scans / {SECONDS:g}s"
    )
    for name, label in (
        ("raw", f"raw pymodbus, {BLOCKS} requests/scan"),
        ("ours", "ModbusDevice.read"),
    ):
        print(
            f"{label:31s}: {statistics.median(rates[name]):6,.0f} scans/s "
            f"({statistics.median(cpu_ms[name]):.2f} ms CPU per scan)  rounds: {_list(rates[name])}"
        )
    print(
        f"ratio {ratio:.0%} of raw (target >= {TARGET:.0%}); {per_scan:g} requests per scan "
        f"counted at the server ({our_requests} for {our_scans} scans)"
    )
    if per_scan != BLOCKS:
        print(f"FAIL: expected {BLOCKS} requests per scan", file=sys.stderr)
        return 1
    return 0


def _list(rates: list[float]) -> str:
    return " ".join(f"{rate:,.0f}" for rate in rates)


def main() -> int:
    port = free_port()
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    requests: Synchronized[int] = context.Value("q", 0)
    server = context.Process(target=serve, args=(port, ready, requests), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise SystemExit("the pymodbus server did not start")
        return asyncio.run(measure(port, requests))
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    sys.exit(main())
