"""HTTP for alarms: parse query parameters, call the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hub.alarms import service
from hub.alarms.schemas import Alarm, AlarmFilters, AlarmState
from hub.auth.deps import CurrentUser
from hub.deps import DbDep
from hub.errors import Forbidden, Unauthorized, Unprocessable, error_responses
from hub.paging import DEFAULT_LIMIT, MAX_LIMIT, Page
from protocols.wire import Severity

router = APIRouter(prefix="/alarms", tags=["alarms"])


@router.get("", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def list_alarms(
    user: CurrentUser,
    db: DbDep,
    state: AlarmState | None = None,
    severity: Severity | None = None,
    tag: str | None = None,
    agent_id: str | None = None,
    after: Annotated[str | None, Query(description="The `next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[Alarm]:
    """Alarm occurrences, newest raise first."""
    filters = AlarmFilters(state=state, severity=severity, tag=tag, agent_id=agent_id)
    return await service.list_alarms(db, filters, after, limit)
