"""Prometheus metrics of the agent, rendered fresh at every scrape from the same figures as
the health event (one source of truth, nothing to keep in sync)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from edge_agent.alarms import AlarmState, Occurrence
from edge_agent.buffer import BufferStats


def render_metrics(
    stats: BufferStats,
    sources: dict[str, bool | None],
    hub_reachable: bool | None,
    sent: int,
    open_alarms: list[Occurrence],
    uptime_s: float,
) -> bytes:
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(f"floorgate_agent_{name}", doc, labels, registry=registry)

    gauge("uptime_seconds", "Seconds since the agent started").set(uptime_s)
    gauge("buffer_depth", "Events waiting for the hub").set(stats.depth)
    dropped = gauge("buffer_dropped", "Events dropped because the buffer was full", ("priority",))
    dropped.labels("routine").set(stats.dropped_routine)
    dropped.labels("urgent").set(stats.dropped_urgent)
    gauge("dead_letters", "Events the hub rejected as invalid").set(stats.dead_letters)
    gauge("events_sent", "Events the hub accepted since start").set(sent)
    gauge("hub_reachable", "1 if the last ingest request succeeded").set(1 if hub_reachable else 0)
    up = gauge("source_up", "1 if the source answers, 0 if down or connecting", ("source",))
    for name, is_up in sources.items():
        up.labels(name).set(1 if is_up else 0)
    by_state = gauge("alarms_open", "Alarm occurrences not back to normal", ("state",))
    for state in AlarmState:
        if state is not AlarmState.NORMAL:
            by_state.labels(state.value).set(sum(o.state is state for o in open_alarms))
    return generate_latest(registry)
