"""HTTP for auth: parse, call the service, shape the reply."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response

from hub.auth import service
from hub.auth.deps import CurrentSession
from hub.auth.schemas import LoginReply, LoginRequest
from hub.deps import ResourcesDep
from hub.errors import Forbidden, Unauthorized, Unprocessable, error_responses

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", responses=error_responses(Unauthorized, Unprocessable))
async def login(body: LoginRequest, resources: ResourcesDep) -> LoginReply:
    """Exchange a username and password for a session token (the only open /api/v1 route)."""
    ttl = timedelta(hours=resources.config.auth.token_ttl_hours)
    return await service.login(
        resources.db, body.username, body.password, ttl=ttl, now=resources.clock()
    )


@router.post(
    "/logout",
    status_code=204,
    response_class=Response,
    responses=error_responses(Unauthorized, Forbidden),
)
async def logout(session: CurrentSession, resources: ResourcesDep) -> Response:
    """End the caller's session: from now on its token is refused (401) everywhere."""
    await service.logout(resources.db, session.token, session.user, resources.clock())
    return Response(status_code=204)
