"""The simulator's small HTTP control endpoint: read the plant, inject and clear faults.

Loopback only by default. ``POST /faults/{name}`` injects, ``DELETE /faults/{name}`` clears,
``GET /state`` returns the values and active faults, ``GET /healthz`` answers when ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException

from protocols.sim.modbus_server import ModbusPlantServer
from protocols.sim.mqtt_publisher import MqttPlantPublisher

if TYPE_CHECKING:
    from protocols.sim.opcua_server import OpcUaPlantServer
from protocols.sim.plant import Fault, Plant

GARBLED_BURST = 10


def _fault(name: str) -> Fault:
    try:
        return Fault(name)
    except ValueError:
        known = ", ".join(fault.value for fault in Fault)
        raise HTTPException(404, f"unknown fault {name!r}; known: {known}") from None


def create_control_app(
    plant: Plant,
    modbus: ModbusPlantServer,
    mqtt: MqttPlantPublisher | None = None,
    opcua: OpcUaPlantServer | None = None,
) -> FastAPI:
    app = FastAPI(title="Floorgate simulated plant", docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/state")
    async def state() -> dict[str, Any]:
        return {
            "time": plant.time,
            "faults": sorted(plant.faults),
            "values": plant.values(),
            "modbus": {"serving": modbus.serving, "requests": modbus.requests},
            "mqtt": None if mqtt is None else {"published": mqtt.published},
        }

    @app.post("/faults/{name}")
    async def inject(name: str) -> dict[str, Any]:
        fault = _fault(name)
        plant.inject(fault)
        if fault is Fault.COMM_LOSS:
            await modbus.stop()
            if mqtt is not None:
                await mqtt.stop()
            if opcua is not None:
                await opcua.stop()
        if fault is Fault.GARBLED and mqtt is not None:
            await mqtt.garble(GARBLED_BURST)
        return {"faults": sorted(plant.faults)}

    @app.delete("/faults/{name}")
    async def clear(name: str) -> dict[str, Any]:
        fault = _fault(name)
        plant.clear(fault)
        if fault is Fault.COMM_LOSS:
            await modbus.start()
            if mqtt is not None:
                await mqtt.start()
            if opcua is not None:
                await opcua.start()
        return {"faults": sorted(plant.faults)}

    return app
