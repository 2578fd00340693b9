"""HTTP for playbooks and their runs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from hub.auth.deps import CurrentUser
from hub.deps import RowId
from hub.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable, error_responses
from hub.governance.runtime import GovernanceDep
from hub.paging import DEFAULT_LIMIT, MAX_LIMIT, Page
from hub.playbooks import service
from hub.playbooks.schemas import (
    PlaybookInfo,
    ResolveRequest,
    RunDetail,
    RunSummary,
    StartRunRequest,
)

router = APIRouter(tags=["playbooks"])


@router.get("/playbooks", responses=error_responses(Unauthorized, Forbidden))
async def list_playbooks(user: CurrentUser, governance: GovernanceDep) -> list[PlaybookInfo]:
    """The playbooks in force, each with the version new runs are pinned to."""
    return service.list_playbooks(governance)


@router.post("/playbooks/reload", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def reload_playbooks(user: CurrentUser, governance: GovernanceDep) -> list[PlaybookInfo]:
    """Re-read the playbook folder: all files or none (422 names file and key path). Runs in
    flight keep the version they started with."""
    return await service.reload(governance, user)


@router.get("/runs", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def list_runs(
    user: CurrentUser,
    governance: GovernanceDep,
    status: Literal["open", "steps_done", "resolved"] | None = None,
    before: Annotated[int | None, Query(description="Runs with a smaller id (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[RunSummary]:
    """Runs in the caller's scope, newest first."""
    items = await service.list_runs(governance, user, status, before, limit)
    return Page[RunSummary](items=items)


@router.post("/runs", responses=error_responses(Unauthorized, Forbidden, NotFound, Unprocessable))
async def start_run(
    body: StartRunRequest, user: CurrentUser, governance: GovernanceDep
) -> RunDetail:
    """Start a playbook by hand; the caller is its requester."""
    return await service.start_run(governance, user, body)


@router.get("/runs/{run_id}", responses=error_responses(Unauthorized, Forbidden, NotFound))
async def get_run(run_id: RowId, user: CurrentUser, governance: GovernanceDep) -> RunDetail:
    """The chain: occurrence -> steps -> tasks and approvals (signatures, snapshots) ->
    actions -> outcome with its times."""
    return await service.get_run(governance, user, run_id)


@router.post(
    "/runs/{run_id}/resolve",
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
)
async def resolve_run(
    run_id: RowId, body: ResolveRequest, user: CurrentUser, governance: GovernanceDep
) -> RunDetail:
    """Record the outcome; refused (403, audited) while a required step is open."""
    return await service.resolve(governance, user, run_id, body)
