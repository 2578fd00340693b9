"""Counters kept in process, rendered in the Prometheus text exposition format (version 0.0.4).

The format is a few lines per metric, so it is written here rather than pulled in with a client
library. Counters reset when the hub restarts, as Prometheus expects of a counter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Metrics:
    ingest_batches: int = 0
    ingest_events: dict[str, int] = field(
        default_factory=lambda: {"accepted": 0, "duplicate": 0, "rejected": 0}
    )

    def count_batch(self, accepted: int, duplicates: int, rejected: int) -> None:
        self.ingest_batches += 1
        self.ingest_events["accepted"] += accepted
        self.ingest_events["duplicate"] += duplicates
        self.ingest_events["rejected"] += rejected


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, help_text: str, samples: Mapping[str, float]) -> list[str]:
    """``samples``: label text (``state="shelved"``, or "" for none) -> value."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples.items():
        lines.append(f"{name}{{{labels}}} {value:g}" if labels else f"{name} {value:g}")
    return lines


def render(
    metrics: Metrics,
    *,
    open_alarms: Mapping[str, int],
    queued_writes: int,
    subscribers: int,
    stream_overflows: int,
) -> str:
    lines = [
        *_family(
            "floorgate_ingest_events_total",
            "counter",
            "Events received by POST /ingest, by result.",
            {f'result="{_escape(k)}"': v for k, v in metrics.ingest_events.items()},
        ),
        *_family(
            "floorgate_ingest_batches_total",
            "counter",
            "Ingest batches answered.",
            {"": metrics.ingest_batches},
        ),
        *_family(
            "floorgate_alarms_open",
            "gauge",
            "Open alarm occurrences (active or unacknowledged), by state.",
            {f'state="{_escape(k)}"': v for k, v in sorted(open_alarms.items())},
        ),
        *_family(
            "floorgate_db_writer_queue_depth",
            "gauge",
            "Write transactions submitted and not yet committed.",
            {"": queued_writes},
        ),
        *_family(
            "floorgate_stream_subscribers",
            "gauge",
            "Open live streams.",
            {"": subscribers},
        ),
        *_family(
            "floorgate_stream_overflows_total",
            "counter",
            "Live subscribers dropped for falling too far behind.",
            {"": stream_overflows},
        ),
    ]
    return "\n".join(lines) + "\n"
