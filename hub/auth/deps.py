"""Bearer-token dependencies: every /api/v1 route but login takes one of these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.auth import service
from hub.auth.policy import Access, rule_for
from hub.auth.schemas import User
from hub.deps import ResourcesDep
from hub.errors import Forbidden, Unauthorized

# auto_error=False: a missing token is rendered by our own handler, like every other error.
_bearer = HTTPBearer(auto_error=False, description="A user session token or an agent token")
_Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("bearer token required")
    return credentials.credentials


async def require_user(
    request: Request, credentials: _Credentials, resources: ResourcesDep
) -> User:
    """The session's user, if the policy table lets their role call the matched route."""
    token = _token(credentials)
    user = await service.user_for_token(resources.db, token, resources.clock())
    if user is not None:
        _authorise(request, user)
        return user
    # Looked up only on failure, to tell a misused agent token from a bad one.
    if await resources.agent_tokens.agent_for(resources.db, token) is not None:
        raise Forbidden("agent tokens may only post to /api/v1/ingest")
    raise Unauthorized("invalid or expired token")


@dataclass(frozen=True)
class Session:
    """The caller's session: its user and the bearer token (to end it)."""

    user: User
    token: str


async def require_session(
    request: Request, credentials: _Credentials, resources: ResourcesDep
) -> Session:
    user = await require_user(request, credentials, resources)
    return Session(user, _token(credentials))


async def require_agent(credentials: _Credentials, resources: ResourcesDep) -> str:
    token = _token(credentials)
    agent_id = await resources.agent_tokens.agent_for(resources.db, token)
    if agent_id is not None:
        return agent_id
    if await service.user_for_token(resources.db, token, resources.clock()) is not None:
        raise Forbidden("ingest requires an agent token")
    raise Unauthorized("invalid agent token")


def _authorise(request: Request, user: User) -> None:
    # The matched route's name is its operation id (see create_app), the key of the policy.
    name = getattr(request.scope.get("route"), "name", None)
    rule = rule_for(name) if isinstance(name, str) else None
    # Fail closed: a route missing from the policy table is refused to everyone.
    if rule is None or rule.access is not Access.USER:
        raise Forbidden("this route has no policy for users")
    if user.role not in rule.roles:
        raise Forbidden(f"role {user.role.value!r} may not call {name}")


CurrentUser = Annotated[User, Depends(require_user)]
CurrentSession = Annotated[Session, Depends(require_session)]
CurrentAgent = Annotated[str, Depends(require_agent)]
"""The authenticated agent's id."""
