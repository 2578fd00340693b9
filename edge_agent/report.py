"""Report by exception: a value goes to the hub only when it moved beyond its deadband, its
quality changed, or the heartbeat interval passed, so the hub's live table stays current
without flooding a slow plant link. Pure: time comes from the readings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import TypeGuard

from edge_agent.buffer import Draft
from edge_agent.config import ReportConfig
from protocols.base import Reading
from protocols.wire import EventType, Quality, Scalar


@dataclass(slots=True)
class _Sent:
    value: Scalar
    quality: Quality
    at: datetime


class ValueReporter:
    """Decides, reading by reading, which values become ``value`` events.

    Args:
        config: Heartbeat and deadbands (a glob per tag, first match wins, else the default).
    """

    def __init__(self, config: ReportConfig) -> None:
        self._config = config
        self._heartbeat = config.heartbeat
        self._last: dict[str, _Sent] = {}
        self._deadband: dict[str, float] = {}

    def update(self, reading: Reading) -> Draft | None:
        if not self._config.values:
            return None
        last = self._last.get(reading.tag)
        if last is not None and not self._due(reading, last):
            return None
        self._last[reading.tag] = _Sent(reading.value, reading.quality, reading.source_time)
        return Draft(
            EventType.VALUE,
            reading.source_time,
            tag=reading.tag,
            value=reading.value,
            quality=reading.quality,
            context=dict(reading.context),
        )

    def _due(self, reading: Reading, last: _Sent) -> bool:
        if reading.quality is not last.quality:
            return True
        if (reading.source_time - last.at).total_seconds() >= self._heartbeat:
            return True
        value, before = reading.value, last.value
        if _number(value) and _number(before):
            return abs(value - before) > self._deadband_of(reading.tag)
        return value != before

    def _deadband_of(self, tag: str) -> float:
        deadband = self._deadband.get(tag)
        if deadband is None:
            deadband = next(
                (
                    band
                    for pattern, band in self._config.deadbands.items()
                    if fnmatchcase(tag, pattern)
                ),
                self._config.deadband,
            )
            self._deadband[tag] = deadband
        return deadband


def _number(value: Scalar) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
