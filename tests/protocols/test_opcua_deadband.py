"""Percent deadbands: the EURange of each variable, the agent-side filter, refusing servers.

The asyncua server accepts a percent DataChangeFilter and reports every change anyway, so these
tests see the agent's own filter at work against a real server.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from asyncua import ua
from asyncua.server.monitored_item_service import MonitoredItemService
from asyncua.ua.status_codes import StatusCodes

from protocols.base import Reading
from protocols.opcua import OpcUa
from protocols.opcua_deadband import PercentDeadband
from protocols.sim.opcua_server import SETPOINT, OpcUaPlantServer
from protocols.sim.plant import Plant
from protocols.wire import Quality, utc_now
from tests.conftest import free_port
from tests.protocols.opcua_fixtures import collect, config, tag

# The server takes seconds to start: the tests against it share one (and its event loop).
on_shared_server = pytest.mark.asyncio(loop_scope="module")

ANALOG = "bench.analog"  # EURange 0..200: a 5 % deadband is 10 units
START = 100.0
CHANGES = (104.0, 108.0, 111.0, 100.0)
"""From START: +4 and +8 stay within 10 of the last value passed, 111 is 11 away, 100 is 11 back."""


class Analog:
    """The plant server plus one Double variable with an EURange, driven from the test."""

    def __init__(self, sim: OpcUaPlantServer, node_id: ua.NodeId) -> None:
        self.sim = sim
        self.node_id = node_id

    @property
    def endpoint(self) -> str:
        return self.sim.endpoint

    async def set(self, value: float, status: int = StatusCodes.Good) -> None:
        now = datetime.datetime.now(datetime.UTC)
        await self.sim.server.write_attribute_value(
            self.node_id,
            ua.DataValue(
                ua.Variant(value, ua.VariantType.Double),
                StatusCode=ua.StatusCode(ua.UInt32(status)),
                SourceTimestamp=now,  # type: ignore[arg-type]  # ua.DateTime is a marker class
                ServerTimestamp=now,  # type: ignore[arg-type]
            ),
        )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared_analog() -> AsyncIterator[Analog]:
    async with OpcUaPlantServer(Plant(seed=2), port=free_port()) as sim:
        idx = sim.namespace_index
        node_id = ua.NodeId(ua.String(ANALOG), ua.Int16(idx))
        folder = await sim.server.get_objects_node().add_object(idx, "Analog")
        variable = await folder.add_variable(
            node_id, "analog", START, varianttype=ua.VariantType.Double
        )
        await variable.add_property(
            ua.NodeId(ua.String(f"{ANALOG}.EURange"), ua.Int16(idx)),
            ua.QualifiedName("EURange", ua.Int16(0)),  # the standard property name, namespace 0
            ua.Range(Low=0.0, High=200.0),
        )
        yield Analog(sim, node_id)


@pytest_asyncio.fixture(loop_scope="module")
async def analog(shared_analog: Analog) -> Analog:
    await shared_analog.set(START)
    return shared_analog


def group(kind: str, value: float, *tags: dict[str, Any]) -> dict[str, Any]:
    return {
        "interval": "50ms",
        "queue_size": 10,  # no change folded away between publishes
        "deadband": {"kind": kind, "value": value},
        "tags": list(tags),
    }


def values_of(readings: list[Reading], name: str) -> list[object]:
    return [r.value for r in readings if r.tag == name]


@on_shared_server
async def test_percent_deadband_is_of_the_eu_range_and_absolute_is_left_to_the_server(
    analog: Analog,
) -> None:
    source = OpcUa(
        config(
            analog.endpoint,
            group("percent", 5, tag("pct", f"ns=2;s={ANALOG}")),
            group("absolute", 3.5, tag("abs", f"ns=2;s={ANALOG}")),
        )
    )
    async with source:
        first = await collect(source, lambda seen: {r.tag for r in seen} == {"pct", "abs"})
        assert sorted((r.tag, r.value) for r in first) == [("abs", START), ("pct", START)]
        for value in CHANGES:
            await analog.set(value)
        # A change of quality passes whatever the value did; back to good passes again.
        await analog.set(101.0, StatusCodes.UncertainLastUsableValue)
        await analog.set(102.0)
        seen = await collect(
            source,
            lambda seen: 102.0 in values_of(seen, "pct") and 100.0 in values_of(seen, "abs"),
        )
    pct = [r for r in seen if r.tag == "pct"]
    assert [(r.value, r.quality) for r in pct] == [
        (111.0, Quality.GOOD),
        (100.0, Quality.GOOD),
        (101.0, Quality.UNCERTAIN),
        (102.0, Quality.GOOD),
    ]
    # Absolute: the server's filter alone; changes of 4 pass, 3 does not.
    assert values_of(seen, "abs")[:3] == [104.0, 108.0, 100.0]


@on_shared_server
async def test_a_variable_without_eu_range_reads_bad_with_the_reason(
    analog: Analog, caplog: pytest.LogCaptureFixture
) -> None:
    source = OpcUa(
        config(
            analog.endpoint,
            group("percent", 5, tag("pct", f"ns=2;s={ANALOG}"), tag("plain", f"ns=2;s={SETPOINT}")),
        )
    )
    before = utc_now()
    with caplog.at_level(logging.WARNING, logger="protocols.opcua"):
        async with source:
            first = await collect(source, lambda seen: {r.tag for r in seen} == {"pct", "plain"})
            await analog.set(120.0)
            later = await collect(source, lambda seen: 120.0 in values_of(seen, "pct"))
    plain = [r for r in first if r.tag == "plain"]
    assert len(plain) == 1
    assert plain[0].quality is Quality.BAD
    assert plain[0].value is None
    assert plain[0].source_time >= before
    reason = plain[0].context["reason"]
    assert isinstance(reason, str)
    assert f"node ns=2;s={SETPOINT} has no EURange property" in reason
    assert "plain" not in {r.tag for r in later}  # not monitored: no stray good values
    assert "has no EURange property" in caplog.text


@on_shared_server
async def test_a_server_refusing_the_filter_gets_plain_items_and_the_agent_filters(
    analog: Analog, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """As many PLC servers do: percent filters come back BadMonitoredItemFilterUnsupported."""
    create = MonitoredItemService.create_monitored_items
    deadbands_asked: list[object] = []

    async def refuse_percent(
        service: MonitoredItemService, params: ua.CreateMonitoredItemsParameters
    ) -> list[ua.MonitoredItemCreateResult]:
        # The server decodes filters into asyncua's generated classes, not ua.DataChangeFilter.
        refused = [
            item
            for item in params.ItemsToCreate
            if getattr(item.RequestedParameters.Filter, "DeadbandType", None)
            == ua.DeadbandType.Percent
        ]
        deadbands_asked.extend(
            getattr(item.RequestedParameters.Filter, "DeadbandType", None)
            for item in params.ItemsToCreate
        )
        if not refused:
            return await create(service, params)
        return [
            ua.MonitoredItemCreateResult(
                StatusCode=ua.StatusCode(ua.UInt32(StatusCodes.BadMonitoredItemFilterUnsupported))
            )
            for _ in params.ItemsToCreate
        ]

    monkeypatch.setattr(MonitoredItemService, "create_monitored_items", refuse_percent)
    source = OpcUa(config(analog.endpoint, group("percent", 5, tag("pct", f"ns=2;s={ANALOG}"))))
    with caplog.at_level(logging.WARNING, logger="protocols.opcua"):
        async with source:
            first = await collect(source, lambda seen: bool(seen))
            for value in CHANGES:
                await analog.set(value)
            seen = await collect(source, lambda seen: 100.0 in values_of(seen, "pct"))
    assert [r.value for r in first] == [START]
    assert [r.value for r in seen] == [111.0, 100.0]
    assert deadbands_asked == [ua.DeadbandType.Percent, None]  # refused, then created without
    assert "refused the percent deadband on 1 tags (BadMonitoredItemFilterUnsupported)" in (
        caplog.text
    )


def _reading(value: object, quality: Quality = Quality.GOOD, **context: Any) -> Reading:
    now = utc_now()
    return Reading("t", value, quality, now, now, context)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "passed"),
    [
        ([100.0, 110.0, 110.1, 99.9], [100.0, 110.1, 99.9]),  # exactly the width is held back
        ([5, 14, 16], [5, 16]),  # integers too
        ([1.0, float("nan"), float("nan"), 1.0], [1.0, float("nan"), float("nan"), 1.0]),
        ([True, True, False], [True, False]),  # not numbers: any change passes
        (["a", "a", "b"], ["a", "b"]),
    ],
)
def test_the_agent_side_filter_compares_to_the_last_value_passed(
    values: list[object], passed: list[object]
) -> None:
    deadband = PercentDeadband(10.0)
    got = [v for v in values if deadband.passes(_reading(v))]
    assert repr(got) == repr(passed)  # repr: nan != nan


def test_a_change_of_quality_or_status_always_passes() -> None:
    deadband = PercentDeadband(10.0)
    steps = [
        (_reading(50.0), True),
        (_reading(51.0, Quality.UNCERTAIN, status="UncertainLastUsableValue"), True),
        (_reading(51.5, Quality.UNCERTAIN, status="UncertainSensorNotAccurate"), True),
        (_reading(52.0, Quality.UNCERTAIN, status="UncertainSensorNotAccurate"), False),
        (_reading(None, Quality.BAD, status="BadSensorFailure"), True),
        (_reading(None, Quality.BAD, status="BadSensorFailure"), False),
        (_reading(52.0), True),
    ]
    assert [deadband.passes(reading) for reading, _ in steps] == [want for _, want in steps]
