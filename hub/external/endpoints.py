"""HTTP for what outside systems send: recommendations, inventory, supplier commitments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hub.audit.schemas import actor_of
from hub.auth.deps import CurrentUser
from hub.auth.scope import Scope
from hub.constraints.runtime import FeedsDep
from hub.deps import ResourcesDep
from hub.errors import Forbidden, Unauthorized, Unprocessable, error_responses
from hub.external import service
from hub.external.schemas import (
    InventoryRequest,
    InventoryView,
    Recommendation,
    RecommendationRequest,
    StoredReply,
    SupplyRequest,
    SupplyView,
)
from hub.paging import MAX_LIMIT

router = APIRouter(tags=["external"])

_ERRORS = error_responses(Unauthorized, Forbidden, Unprocessable)


@router.post("/recommendations", responses=_ERRORS)
async def submit_recommendation(
    body: RecommendationRequest, user: CurrentUser, resources: ResourcesDep, feeds: FeedsDep
) -> Recommendation:
    """Store a recommendation and announce it (``recommendation.received``). Playbooks that
    match it (``match.types: [recommendation.received]``) run it like a floor exception, with
    the submitter as the requester; the decision and the outcome go back by webhook
    (``recommendation.decided``, ``recommendation.resolved``, or ``recommendation.ignored``)."""
    rec = await service.submit_recommendation(
        resources.db, body, Scope.of(user), actor_of(user), resources.clock()
    )
    feeds.committed()
    return rec


@router.get("/recommendations", responses=_ERRORS)
async def list_recommendations(
    user: CurrentUser,
    resources: ResourcesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[Recommendation]:
    """Recommendations in the caller's scope, newest first."""
    return await service.list_recommendations(resources.db, Scope.of(user), limit)


@router.post("/inventory", responses=_ERRORS)
async def post_inventory(
    body: InventoryRequest, user: CurrentUser, resources: ResourcesDep
) -> StoredReply:
    """Inventory positions; the newest per (site, item, location) by ``as_of`` is kept."""
    return await service.store_inventory(resources.db, body, Scope.of(user), resources.clock())


@router.get("/inventory", responses=_ERRORS)
async def list_inventory(
    user: CurrentUser,
    resources: ResourcesDep,
    site: str | None = None,
    area: str | None = None,
    item: Annotated[list[str] | None, Query(description="Repeat for several")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[InventoryView]:
    """Positions in the caller's scope with their age (now minus ``as_of``)."""
    now = resources.clock()
    scope = Scope.of(user)
    return await resources.db.read(
        lambda cur: service.inventory(
            cur, now, scope=scope, site=site, area=area, items=item, limit=limit
        )
    )


@router.post("/supply", responses=_ERRORS)
async def post_supply(
    body: SupplyRequest, user: CurrentUser, resources: ResourcesDep
) -> StoredReply:
    """Supplier commitments; the newest per (source_system, reference) by ``as_of`` is kept."""
    return await service.store_supply(resources.db, body, Scope.of(user), resources.clock())


@router.get("/supply", responses=_ERRORS)
async def list_supply(
    user: CurrentUser,
    resources: ResourcesDep,
    site: str | None = None,
    area: str | None = None,
    item: Annotated[list[str] | None, Query(description="Repeat for several")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[SupplyView]:
    """Commitments in the caller's scope by due time, with their age."""
    now = resources.clock()
    scope = Scope.of(user)
    return await resources.db.read(
        lambda cur: service.supply(
            cur, now, scope=scope, site=site, area=area, items=item, limit=limit
        )
    )
