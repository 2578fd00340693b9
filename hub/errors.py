"""Errors that carry their HTTP status; ``app.py`` installs the one handler that renders them."""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel


class ErrorBody(BaseModel):
    """How every hub error looks on the wire (the same key FastAPI uses for its own 422s)."""

    detail: str


class HubError(Exception):
    """Base of the hub's errors; ``message`` is shown to the client, so it must not leak secrets."""

    status_code: ClassVar[int] = 500
    description: ClassVar[str] = "Internal error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> dict[str, str] | None:
        return None


class BadRequest(HubError):
    status_code = 400
    description = "The request cannot be read"


class Unauthorized(HubError):
    status_code = 401
    description = "Missing, unknown or expired bearer token"

    @property
    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(HubError):
    status_code = 403
    description = "The token does not allow this request"


class NotFound(HubError):
    status_code = 404
    description = "No such object within the caller's scope"


class Conflict(HubError):
    status_code = 409
    description = "The object is not in a state that allows this change"


class PayloadTooLarge(HubError):
    status_code = 413
    description = "The body is larger than the hub accepts"


class UnsupportedMediaType(HubError):
    status_code = 415
    description = "Unsupported Content-Encoding"


class Unprocessable(HubError):
    status_code = 422
    description = "The body or a parameter is invalid"


def error_responses(*errors: type[HubError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the errors a route can raise."""
    return {e.status_code: {"model": ErrorBody, "description": e.description} for e in errors}


def _from_validation(exc: RequestValidationError) -> Unprocessable:
    parts = []
    for error in exc.errors():
        # loc starts with where the value came from ("query", "body"); keep it, it helps.
        location = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return Unprocessable("; ".join(parts) or "invalid request")


async def render_error(request: Request, exc: Exception) -> JSONResponse:
    """The one renderer: FastAPI's own parameter errors are mapped to ours first, so every
    error body has the same shape (``{"detail": "..."}``)."""
    if isinstance(exc, RequestValidationError):
        exc = _from_validation(exc)
    assert isinstance(exc, HubError)
    return JSONResponse(
        ErrorBody(detail=exc.message).model_dump(),
        status_code=exc.status_code,
        headers=exc.headers,
    )
