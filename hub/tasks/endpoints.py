"""HTTP for tasks: the caller's inbox, complete, skip."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from hub.auth.deps import CurrentUser
from hub.deps import RowId
from hub.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable, error_responses
from hub.governance.runtime import GovernanceDep
from hub.paging import DEFAULT_LIMIT, MAX_LIMIT, Page
from hub.tasks import service
from hub.tasks.schemas import CompleteRequest, SkipRequest, Task

router = APIRouter(prefix="/tasks", tags=["tasks"])

TaskStatus = Literal["open", "done", "skipped", "cancelled"]
_CHANGE = error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable)


@router.get("", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def list_tasks(
    user: CurrentUser,
    governance: GovernanceDep,
    status: Annotated[list[TaskStatus] | None, Query(description="Open only by default")] = None,
    assigned: Annotated[
        Literal["me", "scope"],
        Query(
            description="`me`: tasks you may act on (roles, delegations, escalations); "
            "`scope`: every task in your sites and areas"
        ),
    ] = "me",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[Task]:
    """Tasks with their due time and escalation state, newest first."""
    items = await service.list_tasks(governance, user, list(status or ["open"]), assigned, limit)
    return Page[Task](items=items)


@router.get("/{task_id}", responses=error_responses(Unauthorized, Forbidden, NotFound))
async def get_task(task_id: RowId, user: CurrentUser, governance: GovernanceDep) -> Task:
    return await service.get_task(governance, user, task_id)


@router.post("/{task_id}/complete", responses=_CHANGE)
async def complete_task(
    task_id: RowId, body: CompleteRequest, user: CurrentUser, governance: GovernanceDep
) -> Task:
    """Only the assignee, a delegate or an escalation target (403 names the rule; audited).
    An ``expected_end`` moves the run's equipment constraints (422 if the step does not report
    one, it is not in the future, or the run has no open reduced/unavailable constraint)."""
    return await service.complete(
        governance, user, task_id, body.note, expected_end=body.expected_end
    )


@router.post("/{task_id}/skip", responses=_CHANGE)
async def skip_task(
    task_id: RowId, body: SkipRequest, user: CurrentUser, governance: GovernanceDep
) -> Task:
    """Skip a task that is not required; a required one is refused (403) and audited."""
    return await service.skip(governance, user, task_id, body.reason)
