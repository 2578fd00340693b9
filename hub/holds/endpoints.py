"""HTTP for quality holds."""

from __future__ import annotations

from fastapi import APIRouter

from hub.audit.schemas import actor_of
from hub.auth.deps import CurrentUser
from hub.auth.scope import Scope
from hub.constraints.runtime import FeedsDep
from hub.deps import ResourcesDep
from hub.errors import Conflict, Forbidden, Unauthorized, Unprocessable, error_responses
from hub.holds import service
from hub.holds.schemas import Hold, HoldFilters, HoldsReply, HoldsRequest

router = APIRouter(prefix="/holds", tags=["holds"])


@router.post("", responses=error_responses(Unauthorized, Forbidden, Conflict, Unprocessable))
async def change_holds(
    body: HoldsRequest, user: CurrentUser, resources: ResourcesDep, feeds: FeedsDep
) -> HoldsReply:
    """Place and release quality holds on lots, all or nothing; the agents of the lines
    concerned get their new hold list on their next ingest reply."""
    reply = await service.change(
        resources.db, body, Scope.of(user), actor_of(user), resources.clock()
    )
    feeds.committed()
    return reply


@router.get("", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def list_holds(
    user: CurrentUser,
    resources: ResourcesDep,
    lot: str | None = None,
    site: str | None = None,
    line: str | None = None,
    include_released: bool = False,
) -> list[Hold]:
    """Holds in the caller's scope, newest first (open ones only unless asked; at most 5,000)."""
    filters = HoldFilters(lot=lot, site=site, line=line, include_released=include_released)
    return await service.list_holds(resources.db, filters, Scope.of(user))
