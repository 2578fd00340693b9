"""Detection throughput: 1,000 tags and 2,000 rules of every kind, one core, vs raw dispatch.

The ceiling is the same loop with every detector replaced by a no-op ``update``: what looking
up a reading's detectors in a dict and calling each costs in Python, before any rule logic.
Both loops run over the same readings in the same run (CPU speed here changes by about 2x
within minutes). The readings are 1,000 tags scanned once a second, with excursions, frozen
values, state changes, counter resets and lot changes, so alarms raise and clear as they go;
the agent clock ticks every detector once per scan. Bounded: SCANS scans, at most LIMIT_S each.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from edge_agent.detect import Detector, Transition, build_detectors, by_tag
from edge_agent.plans import MemoryPlanBook, PlanEntry
from edge_agent.rule_config import Rule
from protocols.base import Reading
from protocols.wire import Quality, Scalar

SCANS = 200
LIMIT_S = 20.0
ANALOG, STATES, COUNTERS, LOTS = 700, 150, 100, 50  # 1,000 tags
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rules() -> list[dict[str, Any]]:
    """Two rules per tag: 700 threshold, 233 rate, 233 drift, 534 stale, 150 state, 100 plan,
    50 lot on hold."""
    out: list[dict[str, Any]] = []
    for i in range(ANALOG):
        tag = f"a{i}"
        out.append({"kind": "threshold", "tag": tag, "hi": 80, "hihi": 90, "lo": 20,
                    "deadband": 2, "on_delay": "2s"})  # fmt: skip
        name = f"{tag}.second"
        if i % 3 == 0:
            out.append({"kind": "rate_of_change", "name": name, "tag": tag, "limit": 3,
                        "window": "10s"})  # fmt: skip
        elif i % 3 == 1:
            out.append({"kind": "drift", "name": name, "tag": tag, "method": "ewma",
                        "target": 50, "sigma": 6.5})  # fmt: skip
        else:
            out.append({"kind": "stale", "name": name, "tag": tag, "max_age": "5s",
                        "require_change": True, "bad_for": "5s"})  # fmt: skip
    for i in range(STATES):
        out.append({"kind": "state", "tag": f"s{i}", "states": [0, 3], "min_duration": "3s"})
        out.append({"kind": "stale", "name": f"s{i}.stale", "tag": f"s{i}", "max_age": "30s"})
    for i in range(COUNTERS):
        out.append({"kind": "plan_deviation", "tag": f"c{i}", "line": f"line{i}",
                    "window": "60s", "counter_max": 65535, "state_tag": f"s{i}",
                    "stopped_states": [0], "min_duration": "10s"})  # fmt: skip
        out.append({"kind": "stale", "name": f"c{i}.stale", "tag": f"c{i}", "max_age": "30s"})
    for i in range(LOTS):
        out.append({"kind": "lot_on_hold", "tag": f"l{i}"})
        out.append({"kind": "stale", "name": f"l{i}.stale", "tag": f"l{i}", "max_age": "1h"})
    return out


def scans(count: int) -> list[list[Reading]]:
    """One batch of 1,000 readings per second of plant time."""
    rng = random.Random(7)
    analog = [50.0] * ANALOG
    counters = [rng.randrange(65_000, 65_536) for _ in range(COUNTERS)]
    batches = []
    for scan in range(count):
        at = T0 + timedelta(seconds=scan)
        batch = []
        for i in range(ANALOG):
            # A random walk pulled back to 50 that sometimes runs away past the limits.
            analog[i] += rng.gauss(0, 2) + (50 - analog[i]) * 0.05
            value: Scalar = analog[i] if scan % 50 < 45 or i % 7 else 95.0
            quality = Quality.BAD if i % 97 == 0 and scan % 40 > 30 else Quality.GOOD
            batch.append(Reading(f"a{i}", value, quality, at, at))
        for i in range(STATES):
            batch.append(Reading(f"s{i}", (scan // 10 + i) % 4, Quality.GOOD, at, at))
        for i in range(COUNTERS):
            # 0.75/s against a plan of 0.67/s; every tenth line runs at half speed (behind).
            step = rng.choice((0, 1, 1, 1)) if i % 10 else scan % 2
            counters[i] = (counters[i] + step) % 65_536
            batch.append(Reading(f"c{i}", counters[i], Quality.GOOD, at, at))
        for i in range(LOTS):
            batch.append(Reading(f"l{i}", f"LOT{(scan // 30 + i) % 20}", Quality.GOOD, at, at))
        batches.append(batch)
    return batches


def plan_book() -> MemoryPlanBook:
    day = timedelta(days=1)
    entries = [PlanEntry(f"line{i}", "p", T0 - day, T0 + day, 2400.0) for i in range(COUNTERS)]
    return MemoryPlanBook(entries, holds=["LOT3", "LOT11"])


class _NoOp:
    """A detector that does nothing: the raw dispatch ceiling."""

    def __init__(self, detector: Detector) -> None:
        self.name = detector.name
        self.tags = detector.tags

    def update(self, reading: Reading) -> list[Transition]:
        return []

    def tick(self, now: datetime) -> list[Transition]:
        return []


def run(
    routes: dict[str, list[Any]], detectors: list[Any], batches: list[list[Reading]]
) -> tuple[float, float, int, int]:
    """The pipeline's inner loop: readings/s, tick seconds per scan, readings, transitions."""
    readings = transitions = 0
    tick_s = 0.0
    started = time.perf_counter()
    for batch in batches:
        for reading in batch:
            for detector in routes.get(reading.tag, ()):
                transitions += len(detector.update(reading))
        readings += len(batch)
        tick_started = time.perf_counter()
        now = batch[-1].receive_time
        for detector in detectors:
            transitions += len(detector.tick(now))
        tick_s += time.perf_counter() - tick_started
        if time.perf_counter() - started > LIMIT_S:
            break
    elapsed = time.perf_counter() - started - tick_s
    return readings / elapsed, tick_s / len(batches), readings, transitions


def main() -> None:
    specs = rules()
    batches = scans(SCANS)
    started = time.perf_counter()
    parsed = TypeAdapter(list[Rule]).validate_python(specs)
    detectors = build_detectors(parsed, plan_book())
    routes = by_tag(detectors)
    build_s = time.perf_counter() - started

    noops = [_NoOp(d) for d in detectors]
    raw, raw_tick, _, _ = run(by_tag(noops), noops, batches)
    ours, ours_tick, readings, transitions = run(routes, detectors, batches)

    tags = len(routes)
    print(f"tags: {tags}, rules: {len(detectors)}, readings: {readings:,}, one core")
    print(f"validate + build_detectors : {build_s * 1000:10.0f} ms")
    print(
        f"raw dict dispatch (ceiling) : {raw:12,.0f} readings/s, tick {raw_tick * 1e3:.2f} ms/scan"
    )
    print(
        f"detect (update per reading) : {ours:12,.0f} readings/s ({ours / raw:.0%} of raw), "
        f"tick {ours_tick * 1e3:.2f} ms/scan"
    )
    print(f"transitions                 : {transitions:,}")


if __name__ == "__main__":
    main()
