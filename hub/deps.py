"""What the lifespan hands to routes, as ``Annotated`` dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from hub.config import HubConfig
from hub.storage import Database

Clock = Callable[[], datetime]
"""Returns an aware UTC datetime; tests pass their own to move time without sleeping."""


@dataclass(frozen=True)
class Resources:
    config: HubConfig
    db: Database
    clock: Clock


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
