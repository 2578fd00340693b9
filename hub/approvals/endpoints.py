"""HTTP for approvals: the caller's inbox, one approval, decide (an e-signature)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from hub.approvals import service
from hub.approvals.schemas import Approval, DecideRequest
from hub.auth.deps import CurrentUser
from hub.deps import RowId
from hub.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable, error_responses
from hub.governance.runtime import GovernanceDep
from hub.paging import DEFAULT_LIMIT, MAX_LIMIT, Page

router = APIRouter(prefix="/approvals", tags=["approvals"])

ApprovalStatus = Literal["pending", "approved", "rejected", "cancelled"]


@router.get("", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def list_approvals(
    user: CurrentUser,
    governance: GovernanceDep,
    status: Annotated[
        list[ApprovalStatus] | None, Query(description="Pending only by default")
    ] = None,
    assigned: Annotated[
        Literal["me", "scope"],
        Query(
            description="`me`: approvals you may sign now (roles, delegations, "
            "escalations); `scope`: every approval in your sites and areas"
        ),
    ] = "me",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[Approval]:
    """Approvals with due time, escalation state and the live-data snapshot, newest first."""
    items = await service.list_approvals(
        governance, user, list(status or ["pending"]), assigned, limit
    )
    return Page[Approval](items=items)


@router.get("/{approval_id}", responses=error_responses(Unauthorized, Forbidden, NotFound))
async def get_approval(
    approval_id: RowId, user: CurrentUser, governance: GovernanceDep
) -> Approval:
    return await service.get_approval(governance, user, approval_id)


@router.post(
    "/{approval_id}/decide",
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
)
async def decide_approval(
    approval_id: RowId, body: DecideRequest, user: CurrentUser, governance: GovernanceDep
) -> Approval:
    """Sign a decision with your password (401 if wrong). 403 names the rule refused:
    ``assignee`` or ``separation-of-duties``. Every refusal is audited."""
    return await service.decide(
        governance,
        user,
        approval_id,
        decision=body.decision,
        reason=body.reason,
        password=body.password,
    )
