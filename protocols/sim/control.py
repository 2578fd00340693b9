"""The simulator's small HTTP control endpoint: read the plant, inject and clear faults.

Loopback only by default. ``POST /faults/{name}`` injects, ``DELETE /faults/{name}`` clears,
``GET /state`` returns the values and active faults, ``GET /healthz`` answers when ready.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException

from protocols.sim.modbus_server import ModbusPlantServer
from protocols.sim.plant import Fault, Plant


def _fault(name: str) -> Fault:
    try:
        return Fault(name)
    except ValueError:
        known = ", ".join(fault.value for fault in Fault)
        raise HTTPException(404, f"unknown fault {name!r}; known: {known}") from None


def create_control_app(plant: Plant, modbus: ModbusPlantServer) -> FastAPI:
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
        }

    @app.post("/faults/{name}")
    async def inject(name: str) -> dict[str, Any]:
        fault = _fault(name)
        plant.inject(fault)
        if fault is Fault.COMM_LOSS:
            await modbus.stop()
        return {"faults": sorted(plant.faults)}

    @app.delete("/faults/{name}")
    async def clear(name: str) -> dict[str, Any]:
        fault = _fault(name)
        plant.clear(fault)
        if fault is Fault.COMM_LOSS:
            await modbus.start()
        return {"faults": sorted(plant.faults)}

    return app
