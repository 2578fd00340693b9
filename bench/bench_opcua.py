"""Readings/s through ``OpcUa.scans()`` vs raw asyncua subscriptions, same server, same nodes.

The simulated plant's OPC UA server runs in a separate process (so it does not share our GIL)
with NODES extra Double variables that it changes round-robin as fast as it can through the
server's direct write path (``write_attribute_value``). The client side subscribes to those
nodes (publishing interval INTERVAL, queue QUEUE per item, so no change is folded away) in
three ways, in turn in each of ROUNDS rounds (the order rotates every round, so a drift of the
machine's speed hits all alike), each counted for WINDOW seconds after a short warm-up:

- raw handler: asyncua's ``Client.create_subscription`` with a ``datachange_notification``
  handler (what asyncua's docs show; asyncua runs a task per notification);
- raw callback: asyncua's session-level publish callback that only counts the items (the
  library's ceiling: no per-value work at all);
- ours: ``OpcUa.scans()``, every value turned into a ``Reading``.

A Python OPC UA server cannot produce changes faster than a Python client takes them (both
encode or decode every notification; about 8,000-10,000 changes/s here), so the delivered
readings/s of all three equal the server's rate: the server is the limit, not the client. The
figure that compares the clients is therefore their ceiling, measured so that the server cannot
limit it: readings per CPU-second of this (client) process, the server being in another
process. Both figures are printed (medians over the rounds); the ratio is of the median
ceilings. The run is bounded by TIME_LIMIT.

    .venv/bin/python bench/bench_opcua.py
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import multiprocessing
import socket
import statistics
import time
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds

from protocols.opcua import OpcUa
from protocols.opcua_config import OpcUaSource
from protocols.sim.opcua_server import OpcUaPlantServer
from protocols.sim.plant import Plant

NODES = 100
INTERVAL = 0.05
QUEUE = 1000
WARMUP = 0.5
WINDOW = 2.0
ROUNDS = 5
TIME_LIMIT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the server process ------------------------------------------------------------------------


def serve(port: int, ready: Any, produced: Synchronized[int]) -> None:
    asyncio.run(_serve(port, ready, produced))


async def _serve(port: int, ready: Any, produced: Synchronized[int]) -> None:
    sim = OpcUaPlantServer(Plant(), port=port)
    await sim.start()
    server = sim.server
    folder = await server.get_objects_node().add_object(sim.namespace_index, "Bench")
    nodes = []
    for index in range(NODES):
        node_id = ua.NodeId(ua.String(f"bench.v{index}"), ua.Int16(sim.namespace_index))
        await folder.add_variable(node_id, f"v{index}", 0.0, varianttype=ua.VariantType.Double)
        nodes.append(node_id)
    ready.set()
    value = 0.0
    while True:
        now = datetime.datetime.now(datetime.UTC)
        for node_id in nodes:
            value += 1.0
            data = ua.DataValue(
                ua.Variant(value, ua.VariantType.Double),
                SourceTimestamp=now,  # type: ignore[arg-type]
                ServerTimestamp=now,  # type: ignore[arg-type]
            )
            await server.write_attribute_value(node_id, data)
        with produced.get_lock():
            produced.value += len(nodes)
        await asyncio.sleep(0)  # let the server answer publish requests


# --- the clients -------------------------------------------------------------------------------


def node_ids() -> list[ua.NodeId]:
    return [ua.NodeId(ua.String(f"bench.v{i}"), ua.Int16(2)) for i in range(NODES)]


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.count += 1

    def publish(self, result: ua.PublishResult) -> None:
        for notification in result.NotificationMessage.NotificationData:
            if isinstance(notification, ua.DataChangeNotification):
                self.count += len(notification.MonitoredItems)


Result = tuple[float, float, float]
"""(readings per client CPU-second, received/s, server produced/s)."""


async def window(counter: Counter, produced: Synchronized[int]) -> Result:
    """Counted over WINDOW seconds after WARMUP."""
    await asyncio.sleep(WARMUP)
    start, made = counter.count, produced.value
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.sleep(WINDOW)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    got = counter.count - start
    return got / cpu, got / elapsed, (produced.value - made) / elapsed


async def raw_handler(endpoint: str, produced: Synchronized[int]) -> Result:
    counter = Counter()
    async with Client(endpoint) as client:
        sub = await client.create_subscription(INTERVAL * 1000, counter)
        nodes = [client.get_node(n) for n in node_ids()]
        await sub.subscribe_data_change(  # type: ignore[call-overload]  # ua.Double marker type
            nodes, queuesize=QUEUE, sampling_interval=INTERVAL * 1000
        )
        return await window(counter, produced)


async def raw_callback(endpoint: str, produced: Synchronized[int]) -> Result:
    counter = Counter()
    async with Client(endpoint) as client:
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=INTERVAL * 1000,
            RequestedLifetimeCount=10_000,
            RequestedMaxKeepAliveCount=10,
        )
        created = await client.uaclient.create_subscription(params, counter.publish)
        items = [
            ua.MonitoredItemCreateRequest(
                ItemToMonitor=ua.ReadValueId(NodeId=node, AttributeId=AttributeIds.Value),
                MonitoringMode=ua.MonitoringMode.Reporting,
                RequestedParameters=ua.MonitoringParameters(
                    ClientHandle=index, SamplingInterval=INTERVAL * 1000, QueueSize=QUEUE
                ),
            )
            for index, node in enumerate(node_ids())
        ]
        await client.uaclient.create_monitored_items(
            ua.CreateMonitoredItemsParameters(
                SubscriptionId=created.SubscriptionId,
                TimestampsToReturn=ua.TimestampsToReturn.Both,
                ItemsToCreate=items,
            )
        )
        return await window(counter, produced)


async def ours(endpoint: str, produced: Synchronized[int]) -> Result:
    config = OpcUaSource.model_validate(
        {
            "kind": "opcua",
            "name": "bench",
            "endpoint": endpoint,
            "max_queued": 100_000,
            "groups": [
                {
                    "interval": INTERVAL,
                    "queue_size": QUEUE,
                    "tags": [{"name": f"v{i}", "node": f"ns=2;s=bench.v{i}"} for i in range(NODES)],
                }
            ],
        }
    )
    counter = Counter()
    source = OpcUa(config)
    async with source:

        async def consume() -> None:
            async for batch in source.scans():
                counter.count += len(batch)

        task = asyncio.create_task(consume())
        try:
            return await window(counter, produced)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if source.dropped:
                print(f"  (ours dropped {source.dropped} readings)")


async def main() -> None:
    port = free_port()
    endpoint = f"opc.tcp://127.0.0.1:{port}"
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    produced: Synchronized[int] = context.Value("q", 0)
    server = context.Process(target=serve, args=(port, ready, produced), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise SystemExit("the OPC UA sim did not start")
        clients = [("raw handler", raw_handler), ("raw callback", raw_callback), ("ours", ours)]
        results: dict[str, list[Result]] = {name: [] for name, _ in clients}
        deadline = time.monotonic() + TIME_LIMIT
        for index in range(ROUNDS):
            turn = clients[index % len(clients) :] + clients[: index % len(clients)]
            for name, run in turn:
                if time.monotonic() > deadline:
                    break
                results[name].append(await run(endpoint, produced))
        rounds = min(len(runs) for runs in results.values())
        print(f"{NODES} nodes, publishing every {INTERVAL * 1000:.0f} ms, median of {rounds}:")
        print(f"  {'':13s} {'ceiling':>14s} {'delivered':>12s} {'produced':>12s}")
        median = {
            name: tuple(statistics.median(column) for column in zip(*runs, strict=True))
            for name, runs in results.items()
            if runs
        }
        for name, (ceiling, got, made) in median.items():
            rounds_text = " ".join(f"{run[0]:,.0f}" for run in results[name])
            print(
                f"  {name:13s} {ceiling:>9,.0f} /cpu-s {got:>10,.0f}/s {made:>10,.0f}/s"
                f"  ceiling rounds: {rounds_text}"
            )
        for raw in ("raw handler", "raw callback"):
            if raw in median and "ours" in median:
                ratio = median["ours"][0] / median[raw][0]
                print(f"  ours / {raw} (ceiling): {ratio:.0%}")
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    logging.getLogger("asyncua").setLevel(logging.ERROR)  # revised-parameter notices, not results
    asyncio.run(main())
