"""The agent's hand-written metrics, read back with prometheus-client's own parser."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from edge_agent.alarms import Occurrence
from edge_agent.buffer import BufferStats
from edge_agent.metrics import render_metrics
from protocols.wire import Category, Severity

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def test_metrics_parse_as_prometheus_text_with_every_sample() -> None:
    active = Occurrence(
        "o1", "p.hi", "press.temperature", Severity.HIGH, Category.EQUIPMENT, T0, 85.0, 80.0
    )
    acked = replace(active, id="o2", acked_at=T0, acked_by="ana")
    stats = BufferStats(
        depth=3, oldest_source_time=None, dropped_routine=7, dropped_urgent=0, dead_letters=1
    )
    text = render_metrics(
        stats,
        {"plc": True, 'odd "name"\\': None},
        hub_reachable=False,
        sent=12,
        open_alarms=[active, acked, acked],
        uptime_s=48.945266,
    ).decode()
    assert "floorgate_agent_uptime_seconds 48.945266\n" in text
    assert 'floorgate_agent_alarms_open{state="ack-active"} 2.0\n' in text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples == {
        ("floorgate_agent_uptime_seconds", ()): 48.945266,
        ("floorgate_agent_buffer_depth", ()): 3.0,
        ("floorgate_agent_buffer_dropped", (("priority", "routine"),)): 7.0,
        ("floorgate_agent_buffer_dropped", (("priority", "urgent"),)): 0.0,
        ("floorgate_agent_dead_letters", ()): 1.0,
        ("floorgate_agent_events_sent", ()): 12.0,
        ("floorgate_agent_hub_reachable", ()): 0.0,
        ("floorgate_agent_source_up", (("source", "plc"),)): 1.0,
        ("floorgate_agent_source_up", (("source", 'odd "name"\\'),)): 0.0,
        ("floorgate_agent_alarms_open", (("state", "unack-active"),)): 1.0,
        ("floorgate_agent_alarms_open", (("state", "ack-active"),)): 2.0,
        ("floorgate_agent_alarms_open", (("state", "returned-unack"),)): 0.0,
    }
    types = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert set(types.values()) == {"gauge"}
