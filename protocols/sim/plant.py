"""A small simulated plant: a press line, an oven, a packaging line and a silo, with faults.

Pure and deterministic for a given seed: ``step(dt)`` advances simulated time, so tests can drive
it without sleeping. The servers in this package expose ``values()`` over the field protocols.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from protocols.wire import Scalar


class Fault(StrEnum):
    OVERTEMP = "overtemp"
    """Press temperature climbs to about 96 degC (its high limit in the examples is 80)."""
    MACHINE_DOWN = "machine_down"
    """The press stops: state down, pressure falls to zero, the cycle counter stands still."""
    DRIFT = "drift"
    """Oven zone 2 drifts upward slowly, 0.02 degC/s, too slowly for a threshold to notice soon."""
    RATE_DROP = "rate_drop"
    """The packaging line runs at half its rate."""
    SILO_LOW = "silo_low"
    """The silo drains fast toward empty."""
    LOT_CHANGE = "lot_change"
    """The packaging line starts the next lot (one-shot: the fault clears itself)."""
    COMM_LOSS = "comm_loss"
    """The field servers stop answering until the fault is cleared."""
    GARBLED = "garbled"
    """The MQTT publisher sends a burst of unreadable payloads (one-shot)."""


class MachineState(IntEnum):
    STOPPED = 0
    RUNNING = 1
    DOWN = 2


SENSOR_SIGMA = 0.1
"""Standard deviation of a temperature reading around the true value (degrees C)."""


def _approach(current: float, target: float, dt: float, tau: float) -> float:
    """First-order lag: how a real temperature or pressure follows its setpoint."""
    return current + (target - current) * (1.0 - math.exp(-dt / tau))


@dataclass
class Plant:
    """The plant's state; every value is in engineering units.

    Args:
        seed: Makes the measurement noise repeatable.
    """

    seed: int = 1
    time: float = 0.0
    faults: set[Fault] = field(default_factory=set)
    press_temperature: float = 62.0
    press_pressure: float = 180.0
    press_cycles: float = 0.0
    oven_zones: list[float] = field(default_factory=lambda: [180.0, 200.0, 220.0])
    oven_drift: float = 0.0
    pack_count: float = 0.0
    lot_number: int = 1
    silo_level: float = 80.0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        # Sensor noise of the four temperatures, drawn fresh each step and added to the reading
        # only: noise fed into the state would make it a random walk that drifts by itself.
        self._sensor_noise = (0.0, 0.0, 0.0, 0.0)

    def inject(self, fault: Fault) -> None:
        if fault is Fault.LOT_CHANGE:
            self.lot_number += 1
            return
        if fault is Fault.GARBLED:
            return  # acted on by the publisher, not by the plant
        self.faults.add(fault)

    def clear(self, fault: Fault) -> None:
        self.faults.discard(fault)
        if fault is Fault.DRIFT:
            self.oven_drift = 0.0

    @property
    def press_state(self) -> MachineState:
        return MachineState.DOWN if Fault.MACHINE_DOWN in self.faults else MachineState.RUNNING

    def step(self, dt: float) -> None:
        """Advance the plant by ``dt`` seconds of simulated time."""
        self.time += dt
        noise = self._rng.gauss
        running = self.press_state is MachineState.RUNNING

        cycle_temp = 62.0 + 1.5 * math.sin(2 * math.pi * self.time / 120.0)
        temp_target = 96.0 if Fault.OVERTEMP in self.faults else cycle_temp
        self.press_temperature = _approach(self.press_temperature, temp_target, dt, 4.0)

        pressure_target = 180.0 if running else 0.0
        self.press_pressure = _approach(self.press_pressure, pressure_target, dt, 1.5)
        if running:
            self.press_cycles += dt * 12.0 / 60.0

        if Fault.DRIFT in self.faults:
            self.oven_drift += 0.02 * dt
        setpoints = (180.0, 200.0 + self.oven_drift, 220.0)
        self.oven_zones = [
            _approach(zone, target, dt, 10.0)
            for zone, target in zip(self.oven_zones, setpoints, strict=True)
        ]
        self._sensor_noise = (
            noise(0.0, SENSOR_SIGMA),
            noise(0.0, SENSOR_SIGMA),
            noise(0.0, SENSOR_SIGMA),
            noise(0.0, SENSOR_SIGMA),
        )

        rate_per_min = 20.0 if Fault.RATE_DROP in self.faults else 40.0
        self.pack_count += dt * rate_per_min / 60.0

        drain = 0.5 if Fault.SILO_LOW in self.faults else 0.01
        self.silo_level = max(0.0, self.silo_level - drain * dt)
        if self.silo_level < 20.0 and Fault.SILO_LOW not in self.faults:
            self.silo_level = 80.0  # the normal refill

    def values(self) -> dict[str, Scalar]:
        """Every tag of the plant by name, as a device would report it."""
        return {
            "press.temperature": round(self.press_temperature + self._sensor_noise[0], 3),
            "press.pressure": round(self.press_pressure, 3),
            "press.cycle_count": int(self.press_cycles),
            "press.state": int(self.press_state),
            "oven.zone1": round(self.oven_zones[0] + self._sensor_noise[1], 3),
            "oven.zone2": round(self.oven_zones[1] + self._sensor_noise[2], 3),
            "oven.zone3": round(self.oven_zones[2] + self._sensor_noise[3], 3),
            "pack.count": int(self.pack_count),
            "pack.lot": f"LOT-{self.lot_number:04d}",
            "silo.level": round(self.silo_level, 3),
        }
