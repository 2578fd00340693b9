"""``floorgate sim``: the plant, its Modbus TCP server and the control endpoint in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import uvicorn

from protocols.sim.control import create_control_app
from protocols.sim.modbus_server import ModbusPlantServer
from protocols.sim.mqtt_publisher import MqttPlantPublisher

if TYPE_CHECKING:
    from protocols.sim.opcua_server import OpcUaPlantServer
from protocols.sim.plant import Fault, Plant

log = logging.getLogger(__name__)

TICK_SECONDS = 0.1


@dataclass(frozen=True)
class SimSettings:
    host: str = "127.0.0.1"
    modbus_port: int = 5020
    control_port: int = 8401
    seed: int = 1
    faults: tuple[Fault, ...] = ()
    opcua_port: int = 4840
    """0 serves no OPC UA (an asyncua server takes seconds to start)."""
    mqtt_broker: tuple[str, int] | None = None
    """Publish the plant as JSON and Sparkplug B to this broker (none by default)."""


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its host process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _run_plant(
    plant: Plant,
    modbus: ModbusPlantServer,
    mqtt: MqttPlantPublisher | None,
    opcua: OpcUaPlantServer | None,
) -> None:
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(TICK_SECONDS)
        now = loop.time()
        plant.step(now - last)
        last = now
        await modbus.publish()
        if Fault.COMM_LOSS in plant.faults:
            continue
        if mqtt is not None:
            await mqtt.publish()
        if opcua is not None:
            await opcua.publish()


async def serve(settings: SimSettings) -> None:
    """Serve until SIGINT or SIGTERM."""
    plant = Plant(seed=settings.seed)
    for fault in settings.faults:
        plant.inject(fault)
    modbus = ModbusPlantServer(plant, settings.host, settings.modbus_port)
    mqtt = None
    if settings.mqtt_broker is not None:
        mqtt = MqttPlantPublisher(plant, *settings.mqtt_broker)
    opcua = None
    if settings.opcua_port:
        from protocols.sim.opcua_server import OpcUaPlantServer

        opcua = OpcUaPlantServer(plant, settings.host, settings.opcua_port)
    control = _EmbeddedServer(
        uvicorn.Config(
            create_control_app(plant, modbus, mqtt, opcua),
            host=settings.host,
            port=settings.control_port,
            log_level="warning",
            lifespan="off",
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    if Fault.COMM_LOSS not in plant.faults:
        await modbus.start()
        if mqtt is not None:
            await mqtt.start()
        if opcua is not None:
            await opcua.start()
    try:
        async with asyncio.TaskGroup() as group:
            plant_task = group.create_task(_run_plant(plant, modbus, mqtt, opcua))
            control_task = group.create_task(control.serve())
            log.info(
                "sim running: modbus tcp %s:%s, opc ua %s, control http://%s:%s",
                settings.host,
                settings.modbus_port,
                opcua.endpoint if opcua else "off",
                settings.host,
                settings.control_port,
            )
            await stop.wait()
            control.should_exit = True
            await control_task
            plant_task.cancel()
    finally:
        await modbus.stop()
        if mqtt is not None:
            await mqtt.stop()
        if opcua is not None:
            await opcua.stop()
    log.info("sim stopped")
