"""HTTP for the page-support API under /api/v1: parse, authorise, call the service.

Acting for a person (``.../ack-on-behalf``, ``.../shelve-on-behalf``) is how a shared HMI panel
works: the panel's session calls, the person identifies with a PIN or password in the body.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from hub.alarms.schemas import Alarm
from hub.auth import service as auth
from hub.auth.deps import CurrentUser
from hub.auth.scope import Scope
from hub.deps import ResourcesDep
from hub.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable, error_responses
from hub.pages import planner, service
from hub.pages.schemas import (
    AckOnBehalfRequest,
    HmiStatus,
    Me,
    OccurrenceChain,
    PinRequest,
    PlannerBoard,
    ShelveOnBehalfRequest,
)

router = APIRouter(tags=["pages"])

_SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "An SSE stream"}
}
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


@router.get("/pages/planner", responses=error_responses(Unauthorized, Forbidden))
async def planner_board(user: CurrentUser, resources: ResourcesDep) -> PlannerBoard:
    """Plan against actual for the current shift of every line in the caller's scope that has
    a plan in force: planned and produced counts, rates, the projected shortfall at shift end,
    and the chart as server-rendered SVG."""
    return await planner.board(
        resources.db, resources.config.planner, Scope.of(user), resources.clock()
    )


@router.get(
    "/pages/planner/stream",
    response_class=StreamingResponse,
    responses={**_SSE_RESPONSE, **error_responses(Unauthorized, Forbidden)},
)
async def stream_planner(user: CurrentUser, resources: ResourcesDep) -> StreamingResponse:
    """The planner board, live: ``event: board`` (as ``GET /pages/planner``) at once, after
    every plan upload and as the counts move (``planner.refresh_seconds``)."""
    return StreamingResponse(
        planner.board_events(
            resources.db,
            resources.config.planner,
            Scope.of(user),
            resources.clock,
            resources.config.streams.heartbeat_seconds,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
