"""Percent deadband of OPC UA subscriptions: the EURange of each variable and the agent's filter.

A percent deadband is relative to the variable's EURange property (OPC UA Part 8, AnalogItem):
a change is reported when ``|value - last reported| > percent / 100 * (High - Low)``. Servers
differ in what they do with it: some apply it, some refuse the filter
(``BadMonitoredItemFilterUnsupported``, ``BadDeadbandFilterInvalid``...), and some accept it and
report every change anyway (asyncua 2.x logs "DeadbandType Percent is not implemented" and lets
each change through). A client cannot tell the last kind from a server that applies it, so the
adapter always filters percent-deadband items itself as well. That costs nothing on a server
that applies it: the last value the agent passed is the last value the server reported, so every
value the server sends already passes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds

from protocols.base import Reading

REFUSED_FILTER_STATUS = frozenset(
    {
        "BadMonitoredItemFilterUnsupported",
        "BadMonitoredItemFilterInvalid",
        "BadDeadbandFilterInvalid",
        "BadFilterNotAllowed",
    }
)
"""Monitored-item results meaning "not with this filter": the item is created again without it."""


class PercentDeadband:
    """The agent-side percent deadband of one tag, applied to its notifications in order.

    A reading passes when it is the first, when its quality or status differs from the last
    reading passed (a change of quality always passes), when either value is not a finite number
    (then any change passes), or when its value differs from the last value passed by more than
    ``width``.

    Args:
        width: The deadband in engineering units: ``percent / 100 * (High - Low)``.
    """

    __slots__ = ("_last", "width")

    def __init__(self, width: float) -> None:
        self.width = width
        self._last: Reading | None = None

    def passes(self, reading: Reading) -> bool:
        last = self._last
        if last is None or reading.quality is not last.quality or reading.context != last.context:
            self._last = reading
            return True
        value, before = _finite(reading.value), _finite(last.value)
        if value is not None and before is not None:
            moved = abs(value - before) > self.width
        else:
            moved = reading.value != last.value
        if moved:
            self._last = reading
        return moved


def _finite(value: object) -> float | None:
    """The value as a float when it is a finite number (not a bool, text or NaN), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


async def percent_widths(
    client: Client, nodes: Sequence[ua.NodeId | None], percent: float
) -> list[float | str]:
    """The deadband width of each node from its EURange, or why it has none.

    Args:
        client: A connected client.
        nodes: Variables (at most one request's worth; the caller chunks).
        percent: The configured deadband, 0..100.

    Returns:
        Per node, ``percent / 100 * (High - Low)``, or what is missing (a phrase that follows
        the node's name, e.g. "has no EURange property: ...").

    Raises:
        UaError, OSError, TimeoutError: The requests failed (the caller translates them).
    """
    property_path = ua.RelativePath(
        Elements=[
            ua.RelativePathElement(
                ReferenceTypeId=ua.NodeId(ua.Int32(ObjectIds.HasProperty)),
                IsInverse=False,  # type: ignore[arg-type]  # ua.Boolean is a marker class
                IncludeSubtypes=True,  # type: ignore[arg-type]
                TargetName=ua.QualifiedName("EURange", ua.Int16(0)),
            )
        ]
    )
    found = await client.uaclient.translate_browsepaths_to_nodeids(
        [ua.BrowsePath(StartingNode=node, RelativePath=property_path) for node in nodes]
    )
    widths: list[float | str] = []
    ranges: list[tuple[int, ua.NodeId]] = []  # (index in widths, the EURange property)
    for result in found:
        if not result.StatusCode.is_good() or not result.Targets:
            widths.append("has no EURange property: a percent deadband is relative to it")
            continue
        target = result.Targets[0].TargetId
        ranges.append(
            (len(widths), ua.NodeId(target.Identifier, target.NamespaceIndex, target.NodeIdType))
        )
        widths.append("")  # filled in below
    if ranges:
        values: list[ua.DataValue] = await client.uaclient.read(
            ua.ReadParameters(
                NodesToRead=[
                    ua.ReadValueId(NodeId=prop, AttributeId=AttributeIds.Value)
                    for _, prop in ranges
                ]
            )
        )
        for (index, _), data in zip(ranges, values, strict=True):
            widths[index] = _width(data, percent)
    return widths


def _width(data: ua.DataValue, percent: float) -> float | str:
    if data.StatusCode is not None and not data.StatusCode.is_good():
        return f"has an EURange that cannot be read ({data.StatusCode.name})"
    value = data.Value.Value if data.Value is not None else None
    if not isinstance(value, ua.Range):
        return f"has an EURange that is not a Range ({type(value).__name__})"
    low, high = float(value.Low), float(value.High)
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        return f"has an empty EURange ({low:g}..{high:g}): a percent deadband needs High > Low"
    return percent / 100.0 * (high - low)
