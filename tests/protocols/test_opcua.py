"""The OPC UA adapter against the real asyncua server of the simulated plant."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from protocols.base import ConnectError, WriteRefused
from protocols.opcua import OpcUa
from protocols.sim.opcua_server import SETPOINT, OpcUaPlantServer
from protocols.sim.plant import Fault, Plant
from protocols.wire import Quality, utc_now
from tests.conftest import free_port
from tests.protocols.opcua_fixtures import PLANT_TAGS, collect, config, latest, tag

# An asyncua server takes about 2.5 s to build its standard address space and 1 s to stop: the
# tests that leave it running share one per module (and its event loop).
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared_sim() -> AsyncIterator[OpcUaPlantServer]:
    plant = Plant(seed=3)
    plant.inject(Fault.OVERTEMP)
    plant.step(5.0)
    async with OpcUaPlantServer(plant, port=free_port()) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module")
async def sim(shared_sim: OpcUaPlantServer) -> AsyncIterator[OpcUaPlantServer]:
    yield shared_sim
    for name in PLANT_TAGS:
        await shared_sim.force_status(name, None)
    await shared_sim.write(SETPOINT, 62.0)


@pytest_asyncio.fixture(loop_scope="module")
async def own_sim() -> AsyncIterator[OpcUaPlantServer]:
    """A server of its own, for tests that stop it."""
    async with OpcUaPlantServer(Plant(seed=1), port=free_port()) as server:
        yield server


async def test_subscribe_and_poll_groups_read_the_plant_with_source_times(
    sim: OpcUaPlantServer,
) -> None:
    subscribed = [t for t in PLANT_TAGS if t.startswith(("press.", "oven."))]
    polled = [t for t in PLANT_TAGS if t not in subscribed]
    source = OpcUa(
        config(
            sim.endpoint,
            {"interval": "100ms", "tags": [tag(t) for t in subscribed]},
            {"mode": "poll", "interval": "100ms", "tags": [tag(t) for t in polled]},
        )
    )
    before = utc_now()
    sim.plant.step(1.0)
    await sim.publish()
    async with source:
        readings = await collect(source, lambda seen: len(latest(seen)) == len(PLANT_TAGS))
    expected = {**sim.plant.values(), SETPOINT: 62.0}
    for name, reading in latest(readings).items():
        assert reading.quality is Quality.GOOD, reading
        assert reading.context == {}
        want = expected[name]
        if isinstance(want, float):
            assert isinstance(reading.value, float)
            assert math.isclose(reading.value, want), name
        else:
            assert reading.value == want, name
        assert reading.source_time < reading.receive_time  # the server's stamp, not ours
    assert latest(readings)["press.temperature"].source_time >= before  # changed by step()
    assert source.dropped == 0


async def test_every_node_id_form_resolves(sim: OpcUaPlantServer) -> None:
    nodes = {
        "by_string": "ns=2;s=press.temperature",
        "by_uri": "nsu=urn:floorgate:sim;s=press.pressure",
        "by_path": "/Objects/2:Packaging/2:lot",
        "by_number": "ns=0;i=2267",  # Server.ServiceLevel, a Byte
        "by_number_ns0": "i=2267",
    }
    source = OpcUa(
        config(
            sim.endpoint,
            {"mode": "poll", "interval": "1s", "tags": [tag(k, v) for k, v in nodes.items()]},
        )
    )
    async with source:
        found = latest(await collect(source, lambda seen: len(seen) >= len(nodes)))
    values = sim.plant.values()
    assert found["by_string"].value == values["press.temperature"]
    assert found["by_uri"].value == values["press.pressure"]
    assert found["by_path"].value == values["pack.lot"]
    assert found["by_number"].value == found["by_number_ns0"].value == 255
    assert all(r.quality is Quality.GOOD for r in found.values())


@pytest.mark.parametrize(
    ("node", "reason"),
    [
        ("ns=2;s=press.nothing", "BadNodeIdUnknown"),
        ("/Objects/2:Press/2:nothing", "Bad"),
        ("nsu=urn:nobody;s=press.temperature", "urn:nobody is not on the server"),
    ],
)
async def test_an_unresolvable_node_fails_the_connect_naming_the_tag(
    sim: OpcUaPlantServer, node: str, reason: str
) -> None:
    source = OpcUa(config(sim.endpoint, {"tags": [tag("press.temperature"), tag("ghost", node)]}))
    with pytest.raises(ConnectError, match=f"tag ghost: node .* not found .*{reason}"):
        async with source:
            pass
    with pytest.raises(ConnectError, match="tag ghost"):  # the next attempt starts clean
        async with source:
            pass


async def test_an_unreachable_server_is_a_connect_error() -> None:
    source = OpcUa(config(f"opc.tcp://127.0.0.1:{free_port()}", {"tags": [tag("x")]}))
    with pytest.raises(ConnectError, match="cannot connect") as caught:
        async with source:
            pass
    assert isinstance(caught.value.__cause__, OSError)


async def test_deadband_filters_small_changes(sim: OpcUaPlantServer) -> None:
    group = {"interval": "50ms", "queue_size": 10, "tags": [tag(SETPOINT)]}
    filtered = OpcUa(
        config(sim.endpoint, {**group, "deadband": {"kind": "absolute", "value": 1.0}})
    )
    unfiltered = OpcUa(config(sim.endpoint, group))
    async with filtered, unfiltered:
        await collect(filtered, lambda seen: bool(seen))
        await collect(unfiltered, lambda seen: bool(seen))
        for value in (62.3, 62.6, 64.0, 64.2, 70.0):
            await sim.write(SETPOINT, value)
        last = 70.0

        def ended(seen: list[object]) -> bool:
            return any(getattr(r, "value", None) == last for r in seen)

        every = [r.value for r in await collect(unfiltered, ended)]
        passed = [r.value for r in await collect(filtered, ended)]
    assert every == [62.3, 62.6, 64.0, 64.2, 70.0]
    assert passed == [64.0, 70.0]


async def test_bad_and_uncertain_status_become_quality_with_the_status_name(
    sim: OpcUaPlantServer,
) -> None:
    source = OpcUa(
        config(
            sim.endpoint,
            {"interval": "50ms", "tags": [tag("press.temperature")]},
            {"mode": "poll", "interval": "50ms", "tags": [tag("silo.level")]},
        )
    )
    async with source:
        await collect(source, lambda seen: len(latest(seen)) == 2)
        await sim.force_status("press.temperature", "BadSensorFailure")
        await sim.force_status("silo.level", "UncertainLastUsableValue")

        def both(seen: list[object]) -> bool:
            found = latest(seen)  # type: ignore[arg-type]
            return (
                found.get("press.temperature", None) is not None
                and found["press.temperature"].quality is Quality.BAD
                and "silo.level" in found
                and found["silo.level"].quality is Quality.UNCERTAIN
            )

        found = latest(await collect(source, both))
    bad, uncertain = found["press.temperature"], found["silo.level"]
    assert bad.value is None
    assert bad.context == {"status": "BadSensorFailure"}
    assert uncertain.value == sim.plant.values()["silo.level"]
    assert uncertain.context == {"status": "UncertainLastUsableValue"}


async def test_writes_land_with_the_node_type_and_refusals_say_why(sim: OpcUaPlantServer) -> None:
    source = OpcUa(
        config(
            sim.endpoint,
            {
                "mode": "poll",
                "interval": "1s",
                "tags": [
                    tag(SETPOINT, writable=True),
                    tag("press.temperature", writable=True),  # allowed here, not by the server
                    tag("press.pressure"),
                ],
            },
        )
    )
    async with source:
        await source.write(SETPOINT, 75)  # an int goes out as the node's Double
        assert sim.read(SETPOINT) == 75.0
        assert isinstance(sim.read(SETPOINT), float)
        with pytest.raises(WriteRefused, match="not writable"):
            await source.write("press.pressure", 1.0)
        with pytest.raises(WriteRefused, match="takes a number"):
            await source.write(SETPOINT, "hot")
        with pytest.raises(WriteRefused, match=r"BadNotWritable|BadUserAccessDenied"):
            await source.write("press.temperature", 20.0)
    assert sim.read(SETPOINT) == 75.0


async def test_server_stop_ends_scans_promptly(own_sim: OpcUaPlantServer) -> None:
    sim = own_sim
    source = OpcUa(config(sim.endpoint, {"interval": "100ms", "tags": [tag("press.temperature")]}))
    loop = asyncio.get_running_loop()
    async with source:
        await collect(source, lambda seen: bool(seen))
        await sim.stop()
        stopped = loop.time()
        with pytest.raises(ConnectError):
            await collect(source, lambda seen: False, limit=5.0)
        assert loop.time() - stopped < 3.0


async def test_a_silent_subscription_trips_the_watchdog(own_sim: OpcUaPlantServer) -> None:
    sim = own_sim
    source = OpcUa(
        config(
            sim.endpoint,
            {"interval": "100ms", "tags": [tag("press.temperature")]},
            watchdog="1s",
        )
    )
    async with source:
        await collect(source, lambda seen: bool(seen))
        # The server forgets the subscription (as after a server-side timeout) but keeps the
        # connection: only the missing keep-alives tell.
        service = sim.server.iserver.subscription_service
        await service.delete_subscriptions(list(service.subscriptions))
        with pytest.raises(ConnectError, match="no data or keep-alive"):
            await collect(source, lambda seen: False, limit=4.0)


async def test_after_a_server_restart_a_new_session_reads_without_duplicates() -> None:
    plant = Plant(seed=1)
    port = free_port()
    sim = OpcUaPlantServer(plant, port=port)
    source = OpcUa(
        config(sim.endpoint, {"interval": "50ms", "queue_size": 10, "tags": [tag(SETPOINT)]})
    )
    async with sim:
        async with source:
            await collect(source, lambda seen: bool(seen))
            await sim.stop()
            with pytest.raises(ConnectError):
                await collect(source, lambda seen: False)
        await sim.start()  # a new server process, as after a PLC gateway restart
        async with source:  # the same source object, as the agent's supervisor reuses it
            first = await collect(source, lambda seen: bool(seen))
            assert [r.value for r in first] == [62.0]
            for value in (1.0, 2.0, 3.0):
                await sim.write(SETPOINT, value)
            seen = await collect(source, lambda seen: any(r.value == 3.0 for r in seen))
            await asyncio.sleep(0.3)  # a few more publishing intervals for strays to show up
            sim.plant.step(0.1)
            await sim.write(SETPOINT, 4.0)
            seen += await collect(source, lambda seen: any(r.value == 4.0 for r in seen))
    assert [r.value for r in seen] == [1.0, 2.0, 3.0, 4.0]
