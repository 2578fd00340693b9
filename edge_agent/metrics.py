"""Prometheus metrics of the agent, rendered fresh at every scrape from the same figures as
the health event (one source of truth, nothing to keep in sync).

Written out by hand in the text exposition format (version 0.0.4): a dozen gauges do not need
prometheus-client, whose import costs the agent about 1.4 MB resident on a gateway where every
megabyte counts. The tests read this output back with prometheus-client's own parser.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from edge_agent.alarms import AlarmState, Occurrence
from edge_agent.buffer import BufferStats

Sample = tuple[dict[str, str], float]


def render_metrics(
    stats: BufferStats,
    sources: dict[str, bool | None],
    hub_reachable: bool | None,
    sent: int,
    open_alarms: list[Occurrence],
    uptime_s: float,
) -> bytes:
    by_state = [
        ({"state": state.value}, float(sum(o.state is state for o in open_alarms)))
        for state in AlarmState
        if state is not AlarmState.NORMAL
    ]
    lines = [
        *_gauge("uptime_seconds", "Seconds since the agent started", [({}, uptime_s)]),
        *_gauge("buffer_depth", "Events waiting for the hub", [({}, stats.depth)]),
        *_gauge(
            "buffer_dropped",
            "Events dropped because the buffer was full",
            [
                ({"priority": "routine"}, stats.dropped_routine),
                ({"priority": "urgent"}, stats.dropped_urgent),
            ],
        ),
        *_gauge("dead_letters", "Events the hub rejected as invalid", [({}, stats.dead_letters)]),
        *_gauge("events_sent", "Events the hub accepted since start", [({}, sent)]),
        *_gauge(
            "hub_reachable",
            "1 if the last ingest request succeeded",
            [({}, 1 if hub_reachable else 0)],
        ),
        *_gauge(
            "source_up",
            "1 if the source answers, 0 if down or connecting",
            [({"source": name}, 1 if up else 0) for name, up in sources.items()],
        ),
        *_gauge("alarms_open", "Alarm occurrences not back to normal", by_state),
    ]
    return ("\n".join(lines) + "\n").encode()


def _gauge(name: str, doc: str, samples: Iterable[Sample]) -> list[str]:
    full = f"floorgate_agent_{name}"
    lines = [f"# HELP {full} {_escape_help(doc)}", f"# TYPE {full} gauge"]
    for labels, value in samples:
        pairs = ",".join(f'{key}="{_escape_label(text)}"' for key, text in labels.items())
        lines.append(f"{full}{{{pairs}}} {_number(value)}" if pairs else f"{full} {_number(value)}")
    return lines


def _number(value: float) -> str:
    """As Prometheus writes floats: ``1.0``, ``48.945266``, ``+Inf``, ``NaN``."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
