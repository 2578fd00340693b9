"""What the lifespan hands to routes, as ``Annotated`` dependencies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Request

from hub.auth.service import AgentTokens
from hub.config import HubConfig
from hub.ingest.workers import PreparePool
from hub.ingest.writer import IngestWriter
from hub.ops.metrics import Metrics
from hub.storage import BIGINT_MAX, Database
from hub.streams.bus import AlarmBus

RowId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="The object's id")]
"""A path parameter naming a stored object by id: bounded like the BIGINT it is stored as, so
that an absurd id is a 422, not a database error."""

Clock = Callable[[], datetime]
"""Returns an aware UTC datetime; tests pass their own to move time without sleeping."""


@dataclass(frozen=True)
class Resources:
    config: HubConfig
    db: Database
    clock: Clock
    bus: AlarmBus = field(default_factory=AlarmBus)
    """Alarm changes for live subscribers, published by the services after each commit."""
    metrics: Metrics = field(default_factory=Metrics)
    shelve_timer: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to wake the shelve timer (a new shelve may end before its next planned pass)."""
    ingest: IngestWriter = field(default_factory=IngestWriter)
    """Stores ingest batches (journal first, DuckDB behind); holds the index of stored seqs."""
    agent_tokens: AgentTokens = field(default_factory=AgentTokens)
    """Agent tokens the hub has found, so ingest reads each from the database once."""
    ingest_workers: PreparePool = field(default_factory=lambda: PreparePool(0))
    """Parses large ingest batches in worker processes."""


def get_resources(request: Request) -> Resources:
    resources = request.state.resources
    assert isinstance(resources, Resources)
    return resources


def get_db(request: Request) -> Database:
    return get_resources(request).db


def get_clock(request: Request) -> Clock:
    return get_resources(request).clock


ResourcesDep = Annotated[Resources, Depends(get_resources)]
DbDep = Annotated[Database, Depends(get_db)]
ClockDep = Annotated[Clock, Depends(get_clock)]
