"""The hub's Prometheus metrics, through prometheus-client (the exposition format's own
library, as on the agent). Ingest counters live for the process, as Prometheus expects of a
counter; the rest is read fresh at every scrape."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the format generate_latest writes


@dataclass(eq=False)  # the registry keeps collectors in a dict: hashed by identity
class _Scrape(Collector):
    """What the hub reads at scrape time, handed to the registry as metric families."""

    open_alarms: Mapping[str, int] = field(default_factory=dict)
    queued_writes: int = 0
    journal_segments: int = 0
    subscribers: int = 0
    stream_overflows: int = 0

    def collect(self) -> Iterator[Metric]:
        alarms = GaugeMetricFamily(
            "floorgate_alarms_open",
            "Open alarm occurrences (active or unacknowledged), by state.",
            labels=["state"],
        )
        for state, count in sorted(self.open_alarms.items()):
            alarms.add_metric([state], count)
        yield alarms
        yield GaugeMetricFamily(
            "floorgate_db_writer_queue_depth",
            "Write transactions submitted and not yet committed.",
            value=self.queued_writes,
        )
        yield GaugeMetricFamily(
            "floorgate_ingest_journal_segments",
            "Ingest journal segments acknowledged and not yet loaded into the database.",
            value=self.journal_segments,
        )
        yield GaugeMetricFamily(
            "floorgate_stream_subscribers", "Open live streams.", value=self.subscribers
        )
        yield CounterMetricFamily(
            "floorgate_stream_overflows",
            "Live subscribers dropped for falling too far behind.",
            value=self.stream_overflows,
        )


class Metrics:
    """The metrics of one hub app (a registry each, so tests can run several hubs)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._events = Counter(
            "floorgate_ingest_events",
            "Events received by POST /ingest, by result.",
            ["result"],
            registry=self.registry,
        )
        for result in ("accepted", "duplicate", "rejected"):
            self._events.labels(result)
        self._batches = Counter(
            "floorgate_ingest_batches", "Ingest batches answered.", registry=self.registry
        )
        self._scrape = _Scrape()
        self.registry.register(self._scrape)

    def count_batch(self, accepted: int, duplicates: int, rejected: int) -> None:
        self._batches.inc()
        self._events.labels("accepted").inc(accepted)
        self._events.labels("duplicate").inc(duplicates)
        self._events.labels("rejected").inc(rejected)

    def render(
        self,
        *,
        open_alarms: Mapping[str, int],
        queued_writes: int,
        journal_segments: int,
        subscribers: int,
        stream_overflows: int,
    ) -> bytes:
        self._scrape.open_alarms = open_alarms
        self._scrape.queued_writes = queued_writes
        self._scrape.journal_segments = journal_segments
        self._scrape.subscribers = subscribers
        self._scrape.stream_overflows = stream_overflows
        return generate_latest(self.registry)
