"""HTTP for delegations."""

from __future__ import annotations

from fastapi import APIRouter

from hub.auth.deps import CurrentUser
from hub.deps import ResourcesDep, RowId
from hub.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable, error_responses
from hub.governance import service
from hub.governance.schemas import DelegationRequest, DelegationView, RevokeRequest

router = APIRouter(prefix="/delegations", tags=["approvals"])


@router.get("", responses=error_responses(Unauthorized, Forbidden))
async def list_delegations(user: CurrentUser, resources: ResourcesDep) -> list[DelegationView]:
    """Delegations you gave or received (supervisors and admins: all)."""
    return await service.list_delegations(resources.db, user, resources.clock())


@router.post("", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def create_delegation(
    body: DelegationRequest, user: CurrentUser, resources: ResourcesDep
) -> DelegationView:
    """Delegate your role to another user for a window (audited)."""
    return await service.delegate(resources.db, user, body, resources.clock())


@router.post(
    "/{delegation_id}/revoke",
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
)
async def revoke_delegation(
    delegation_id: RowId, body: RevokeRequest, user: CurrentUser, resources: ResourcesDep
) -> DelegationView:
    return await service.revoke(resources.db, user, delegation_id, body.reason, resources.clock())
