"""HTTP for webhook subscriptions and the delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hub.audit.schemas import actor_of
from hub.auth.deps import CurrentUser
from hub.auth.scope import Scope
from hub.deps import ResourcesDep, RowId
from hub.errors import Forbidden, NotFound, Unauthorized, Unprocessable, error_responses
from hub.paging import DEFAULT_LIMIT, MAX_LIMIT, Page
from hub.storage import BIGINT_MAX
from hub.webhooks import service
from hub.webhooks.schemas import (
    CreatedSubscription,
    Delivery,
    DeliveryFilters,
    DeliveryStatus,
    Subscription,
    SubscriptionRequest,
    SubscriptionUpdate,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post("/subscriptions", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def create_webhook(
    body: SubscriptionRequest, user: CurrentUser, resources: ResourcesDep
) -> CreatedSubscription:
    """Subscribe a URL to hub events; the reply holds the signing secret, shown only here."""
    return await service.create_subscription(
        resources.db, body, Scope.of(user), actor_of(user), resources.clock()
    )


@router.get("/subscriptions", responses=error_responses(Unauthorized, Forbidden))
async def list_webhooks(user: CurrentUser, resources: ResourcesDep) -> list[Subscription]:
    return await service.list_subscriptions(resources.db, Scope.of(user))


@router.patch(
    "/subscriptions/{subscription_id}",
    responses=error_responses(Unauthorized, Forbidden, NotFound, Unprocessable),
)
async def update_webhook(
    subscription_id: RowId, body: SubscriptionUpdate, user: CurrentUser, resources: ResourcesDep
) -> Subscription:
    """Pause or resume (``active``), or change the URL or event patterns."""
    return await service.update_subscription(
        resources.db, subscription_id, body, Scope.of(user), actor_of(user), resources.clock()
    )


@router.get("/deliveries", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def list_webhook_deliveries(
    user: CurrentUser,
    resources: ResourcesDep,
    subscription_id: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
    status: DeliveryStatus | None = None,
    event: str | None = None,
    after: Annotated[str | None, Query(description="The `next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[Delivery]:
    """The delivery log, newest first, with every attempt's status code or error."""
    filters = DeliveryFilters(subscription_id=subscription_id, status=status, event=event)
    return await service.list_deliveries(resources.db, filters, Scope.of(user), after, limit)
