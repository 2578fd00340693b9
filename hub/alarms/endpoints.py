"""HTTP for alarms: parse, resolve the caller's scope, call the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hub.alarms import service
from hub.alarms.schemas import (
    AckRequest,
    Alarm,
    AlarmFilters,
    AlarmState,
    Channel,
    HistoryEntry,
    OptionalReasonRequest,
    ReasonRequest,
    ShelveRequest,
)
from hub.audit.schemas import actor_of
from hub.auth.deps import CurrentUser
from hub.auth.scope import Scope
from hub.deps import ResourcesDep, RowId
from hub.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
    error_responses,
)
from hub.paging import DEFAULT_LIMIT, MAX_LIMIT, Page
from protocols.wire import Severity

router = APIRouter(prefix="/alarms", tags=["alarms"])

_READ_ERRORS = error_responses(Unauthorized, Forbidden, NotFound, Unprocessable)
_CHANGE_ERRORS = error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable)


@router.get("", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def list_alarms(
    user: CurrentUser,
    resources: ResourcesDep,
    state: Annotated[list[AlarmState] | None, Query(description="Repeat for several")] = None,
    severity: Severity | None = None,
    site: str | None = None,
    area: str | None = None,
    line: str | None = None,
    tag: str | None = None,
    agent_id: str | None = None,
    after: Annotated[str | None, Query(description="The `next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[Alarm]:
    """Alarm occurrences in the caller's scope, newest raise first."""
    filters = AlarmFilters(
        state=state, severity=severity, site=site, area=area, line=line, tag=tag, agent_id=agent_id
    )
    return await service.list_alarms(
        resources.db, filters, Scope.of(user), resources.clock(), after, limit
    )


@router.get("/{alarm_id}", responses=_READ_ERRORS)
async def get_alarm(alarm_id: RowId, user: CurrentUser, resources: ResourcesDep) -> Alarm:
    return await service.get_alarm(resources.db, alarm_id, Scope.of(user), resources.clock())


@router.get("/{alarm_id}/history", responses=_READ_ERRORS)
async def alarm_history(
    alarm_id: RowId, user: CurrentUser, resources: ResourcesDep
) -> list[HistoryEntry]:
    """Every transition of the occurrence, oldest first (acks that lost included)."""
    return await service.history(resources.db, alarm_id, Scope.of(user))


@router.post("/{alarm_id}/ack", responses=_CHANGE_ERRORS)
async def ack_alarm(
    alarm_id: RowId, body: AckRequest, user: CurrentUser, resources: ResourcesDep
) -> Alarm:
    """Acknowledge (a note is required for high and critical); the agent is told by command."""
    change = await service.acknowledge(
        resources.db,
        resources.bus,
        alarm_id,
        scope=Scope.of(user),
        username=user.username,
        actor=actor_of(user),
        note=body.note,
        channel=Channel(body.channel),
        now=resources.clock(),
    )
    return change.alarm


@router.post("/{alarm_id}/shelve", responses=_CHANGE_ERRORS)
async def shelve_alarm(
    alarm_id: RowId, body: ShelveRequest, user: CurrentUser, resources: ResourcesDep
) -> Alarm:
    """Shelve the alarm (all its occurrences) for ``minutes``; it unshelves itself after."""
    change = await service.shelve(
        resources.db,
        resources.bus,
        alarm_id,
        scope=Scope.of(user),
        actor=actor_of(user),
        minutes=body.minutes,
        max_minutes=resources.config.alarms.max_shelve_minutes,
        reason=body.reason,
        channel=Channel(body.channel),
        now=resources.clock(),
    )
    resources.shelve_timer.set()
    return change.alarm


@router.post("/{alarm_id}/unshelve", responses=_CHANGE_ERRORS)
async def unshelve_alarm(
    alarm_id: RowId, body: OptionalReasonRequest, user: CurrentUser, resources: ResourcesDep
) -> Alarm:
    change = await service.unshelve(
        resources.db,
        resources.bus,
        alarm_id,
        scope=Scope.of(user),
        actor=actor_of(user),
        reason=body.reason,
        channel=Channel(body.channel),
        now=resources.clock(),
    )
    return change.alarm


async def _flag(
    alarm_id: RowId,
    flag: str,
    on: bool,
    reason: str | None,
    channel: str,
    user: CurrentUser,
    resources: ResourcesDep,
) -> Alarm:
    change = await service.set_flag(
        resources.db,
        resources.bus,
        alarm_id,
        flag=flag,
        on=on,
        scope=Scope.of(user),
        actor=actor_of(user),
        reason=reason,
        channel=Channel(channel),
        now=resources.clock(),
    )
    return change.alarm


@router.post("/{alarm_id}/suppress", responses=_CHANGE_ERRORS)
async def suppress_alarm(
    alarm_id: RowId, body: ReasonRequest, user: CurrentUser, resources: ResourcesDep
) -> Alarm:
    return await _flag(alarm_id, "suppressed", True, body.reason, body.channel, user, resources)


@router.post("/{alarm_id}/unsuppress", responses=_CHANGE_ERRORS)
async def unsuppress_alarm(
    alarm_id: RowId, body: OptionalReasonRequest, user: CurrentUser, resources: ResourcesDep
) -> Alarm:
    return await _flag(alarm_id, "suppressed", False, body.reason, body.channel, user, resources)


@router.post("/{alarm_id}/out-of-service", responses=_CHANGE_ERRORS)
async def remove_alarm_from_service(
    alarm_id: RowId, body: ReasonRequest, user: CurrentUser, resources: ResourcesDep
) -> Alarm:
    return await _flag(alarm_id, "out_of_service", True, body.reason, body.channel, user, resources)


@router.post("/{alarm_id}/in-service", responses=_CHANGE_ERRORS)
async def return_alarm_to_service(
    alarm_id: RowId, body: OptionalReasonRequest, user: CurrentUser, resources: ResourcesDep
) -> Alarm:
    return await _flag(
        alarm_id, "out_of_service", False, body.reason, body.channel, user, resources
    )
