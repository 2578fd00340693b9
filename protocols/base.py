"""What every field adapter shares: the Reading, the Source interface, the error tree."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import NamedTuple, Protocol, Self

from protocols.wire import Quality, Scalar

NO_CONTEXT: Mapping[str, Scalar] = MappingProxyType({})


class Reading(NamedTuple):
    """One value of one tag at one moment, as the device reported it.

    A named tuple rather than a dataclass: an agent makes one per register per scan, and a
    tuple is built about three times faster than a frozen dataclass.

    Args:
        tag: The tag name from the agent's tag table.
        value: The decoded, scaled value; ``None`` when quality is bad.
        quality: good / uncertain / bad.
        source_time: When the device stamped the value (the read time if it has no clock).
        receive_time: When the adapter received it.
        context: Protocol detail kept for diagnosis, e.g. ``{"status": "exception 2"}``.
    """

    tag: str
    value: Scalar
    quality: Quality
    source_time: datetime
    receive_time: datetime
    context: Mapping[str, Scalar] = NO_CONTEXT


class ProtocolError(Exception):
    """Base of every error an adapter raises; library exceptions are chained as ``__cause__``."""


class ConnectError(ProtocolError):
    """The device could not be reached or the connection dropped."""


class ReadTimeout(ProtocolError):
    """The device did not answer in time."""


class DeviceError(ProtocolError):
    """The device answered with an error (e.g. a Modbus exception code)."""


class WriteRefused(ProtocolError):
    """A write was not allowed or the device rejected it."""


class Source(Protocol):
    """A field source: connect, then deliver readings until the connection fails.

    Implementations are async context managers, reusable but not re-entrant. ``scans`` yields a
    batch of readings per poll (polled protocols) or per notification burst (subscriptions) and
    raises ``ConnectError`` or ``ReadTimeout`` when the device is gone; the supervisor in
    ``edge_agent.read`` then marks the tags bad and reconnects with backoff, so adapters never
    retry on their own.
    """

    name: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    def tags(self) -> list[str]: ...

    def scans(self) -> AsyncIterator[list[Reading]]: ...

    async def write(self, tag: str, value: Scalar) -> None:
        """Write one value; raises ``WriteRefused`` for a tag that is not writable."""
        ...
