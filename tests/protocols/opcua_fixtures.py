"""Helpers shared by the OPC UA tests: configs for the simulated plant and reading loops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from protocols.base import Reading
from protocols.opcua import OpcUa
from protocols.opcua_config import OpcUaSource
from protocols.sim.opcua_server import VARIABLES

PLANT_TAGS = [v.tag for v in VARIABLES]


def tag(name: str, node: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "node": node or f"ns=2;s={name}", **extra}


def config(endpoint: str, *groups: dict[str, Any], **extra: Any) -> OpcUaSource:
    return OpcUaSource.model_validate(
        {
            "kind": "opcua",
            "name": "plant",
            "endpoint": endpoint,
            "timeout": 2,
            "watchdog": 3,
            "groups": list(groups),
            **extra,
        }
    )


async def collect(
    source: OpcUa, done: Callable[[list[Reading]], bool], limit: float = 5.0
) -> list[Reading]:
    """Readings from ``scans()`` until ``done(all so far)`` holds; fails after ``limit`` s."""
    seen: list[Reading] = []
    async with asyncio.timeout(limit):
        async for batch in source.scans():
            seen.extend(batch)
            if done(seen):
                return seen
    raise AssertionError("scans() ended")


def latest(readings: list[Reading]) -> dict[str, Reading]:
    return {reading.tag: reading for reading in readings}
