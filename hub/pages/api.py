"""HTTP for the page-support API under /api/v1: parse, authorise, call the service.

Acting for a person (``.../ack-on-behalf``, ``.../shelve-on-behalf``) is how a shared HMI panel
works: the panel's session calls, the person identifies with a PIN or password in the body.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from hub.alarms.schemas import Alarm
from hub.auth import service as auth
from hub.auth.deps import CurrentUser
from hub.auth.scope import Scope
from hub.deps import ResourcesDep
from hub.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable, error_responses
from hub.pages import service
from hub.pages.schemas import (
    AckOnBehalfRequest,
    HmiStatus,
    Me,
    OccurrenceChain,
    PinRequest,
    PlannerChart,
    ShelveOnBehalfRequest,
)

router = APIRouter(tags=["pages"])

_ON_BEHALF_ERRORS = error_responses(
    Unauthorized, Forbidden, NotFound, Conflict, Unprocessable, auth.TooManyAttempts
)


@router.get("/me", responses=error_responses(Unauthorized, Forbidden))
async def whoami(user: CurrentUser, resources: ResourcesDep) -> Me:
    """The signed-in user and the operations their role may call."""
    return await service.me(resources.db, user)


@router.put(
    "/me/pin",
    status_code=204,
    response_class=Response,
    responses=error_responses(Unauthorized, Forbidden, Unprocessable),
)
async def set_my_pin(body: PinRequest, user: CurrentUser, resources: ResourcesDep) -> Response:
    """Set (or change) the caller's personal PIN for shared panels; the password is re-entered."""
    await auth.set_own_pin(resources.db, user, body.password, body.pin, resources.clock())
    return Response(status_code=204)


@router.post("/alarms/{alarm_id}/ack-on-behalf", responses=_ON_BEHALF_ERRORS)
async def ack_alarm_on_behalf(
    alarm_id: int, body: AckOnBehalfRequest, user: CurrentUser, resources: ResourcesDep
) -> Alarm:
    """Acknowledge as the person named in the body, who identifies with a PIN or password.

    The calling session (a panel device) must see the alarm; the person must be allowed to
    acknowledge it themselves. The transition and the audit record name the person; a wrong
    PIN is 401 and, repeated, 429.
    """
    return await service.ack_on_behalf(
        resources.db,
        resources.bus,
        user,
        alarm_id,
        person=body.person,
        secret=body.secret,
        note=body.note,
        now=resources.clock(),
    )


@router.post("/alarms/{alarm_id}/shelve-on-behalf", responses=_ON_BEHALF_ERRORS)
async def shelve_alarm_on_behalf(
    alarm_id: int, body: ShelveOnBehalfRequest, user: CurrentUser, resources: ResourcesDep
) -> Alarm:
    """Shelve as the person named in the body (see ``ack-on-behalf``)."""
    alarm = await service.shelve_on_behalf(
        resources.db,
        resources.bus,
        user,
        alarm_id,
        person=body.person,
        secret=body.secret,
        minutes=body.minutes,
        max_minutes=resources.config.alarms.max_shelve_minutes,
        reason=body.reason,
        now=resources.clock(),
    )
    resources.shelve_timer.set()
    return alarm


@router.get("/pages/hmi", responses=error_responses(Unauthorized, Forbidden))
async def hmi_status(user: CurrentUser, resources: ResourcesDep) -> HmiStatus:
    """For the alarm panel: shelve limit, severities needing a note, agent and source states."""
    return await service.hmi_status(
        resources.db,
        Scope.of(user),
        resources.config.alarms.max_shelve_minutes,
        resources.clock(),
    )


@router.get("/pages/chain/{alarm_id}", responses=error_responses(Unauthorized, Forbidden, NotFound))
async def occurrence_chain(
    alarm_id: int, user: CurrentUser, resources: ResourcesDep
) -> OccurrenceChain:
    """The plan-to-outcome chain of one alarm occurrence from the audit: the exception, the
    response at the panel, tasks, decisions with their signatures, actions, the outcome."""
    return await service.occurrence_chain(resources.db, alarm_id, Scope.of(user), resources.clock())


@router.get(
    "/pages/planner/chart",
    responses=error_responses(Unauthorized, Forbidden, Unprocessable),
)
async def planner_chart(
    user: CurrentUser,
    resources: ResourcesDep,
    line: Annotated[str, Query(min_length=1)],
    tag: Annotated[str, Query(min_length=1, description="The line's good-count counter")],
    start: AwareDatetime,
    end: AwareDatetime,
    planned_rate_per_hour: Annotated[float, Query(ge=0)],
) -> PlannerChart:
    """Plan against actual for one line over a shift: planned and produced counts, the actual
    rate, the projected shortfall at shift end, and the chart as server-rendered SVG."""
    return await service.planner_chart(
        resources.db,
        Scope.of(user),
        line=line,
        tag=tag,
        start=start,
        end=end,
        planned_rate_per_hour=planned_rate_per_hour,
        now=resources.clock(),
    )
