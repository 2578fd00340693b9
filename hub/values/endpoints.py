"""HTTP for live values."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hub.auth.deps import CurrentUser
from hub.auth.scope import Scope
from hub.deps import ResourcesDep
from hub.errors import Forbidden, Unauthorized, Unprocessable, error_responses
from hub.paging import DEFAULT_LIMIT, MAX_LIMIT, Page
from hub.values import service
from hub.values.schemas import LiveValue, ValueFilters

router = APIRouter(prefix="/values", tags=["values"])


@router.get("", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def list_values(
    user: CurrentUser,
    resources: ResourcesDep,
    site: str | None = None,
    area: str | None = None,
    line: str | None = None,
    agent_id: str | None = None,
    tag: Annotated[str | None, Query(description="Glob pattern, e.g. `press*.temp`")] = None,
    after: Annotated[str | None, Query(description="The `next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[LiveValue]:
    """The current value of each tag in the caller's scope, in (agent_id, tag) order."""
    filters = ValueFilters(site=site, area=area, line=line, agent_id=agent_id, tag=tag)
    await resources.ingest.settled()  # the values of every acknowledged event
    return await service.list_values(
        resources.db, filters, Scope.of(user), resources.clock(), after, limit
    )
