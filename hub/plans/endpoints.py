"""HTTP for plans: ``POST /plans`` takes JSON or CSV (by Content-Type), ``GET /plans`` lists."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from hub.audit.schemas import actor_of
from hub.auth.deps import CurrentUser
from hub.auth.scope import Scope
from hub.constraints.runtime import FeedsDep
from hub.deps import ResourcesDep
from hub.errors import (
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
    error_responses,
)
from hub.paging import DEFAULT_LIMIT, MAX_LIMIT, Page
from hub.plans import parse, service
from hub.plans.schemas import PlanEntry, PlanFilters, PlanUpload, PlanUploadReply

MAX_BODY_BYTES = 16 * 1024 * 1024

OPENAPI_MODELS = (PlanUpload,)
"""Models the app adds to the OpenAPI components (the body is read raw, not as a parameter)."""

router = APIRouter(prefix="/plans", tags=["plans"])

_CSV_EXAMPLE = (
    "site,area,line,product,lot,planned_quantity,planned_rate_per_hour,start,end,shift\n"
    "plant1,press,L1,bracket-A,LOT-42,4000,500,2026-03-02T06:00:00Z,2026-03-02T14:00:00Z,early\n"
)
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Plan entries as JSON, or as CSV with a header row (columns as the JSON"
        " fields; site, line, product, start, end required). Any bad row refuses the upload.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PlanUpload"}},
            "text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE},
        },
    }
}


@router.post(
    "",
    openapi_extra=_UPLOAD_BODY,
    responses=error_responses(
        BadRequest, Unauthorized, Forbidden, PayloadTooLarge, UnsupportedMediaType, Unprocessable
    ),
)
async def upload_plan(
    request: Request,
    user: CurrentUser,
    resources: ResourcesDep,
    feeds: FeedsDep,
    source: Annotated[
        str | None, Query(min_length=1, max_length=200, description="The sending system (CSV)")
    ] = None,
) -> PlanUploadReply:
    """Store plan entries and send each agent the plan of its lines on its next ingest reply."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/json", "text/csv"):
        raise UnsupportedMediaType(
            f"Content-Type {media or '(none)'!r}: send application/json or text/csv"
        )
    body = await _read_body(request)
    rows: list[int] | None = None
    if media == "text/csv":
        plan, rows = parse.parse_csv(body, source)
        fmt = "csv"
    else:
        plan = parse.parse_json(body)
        fmt = "json"
    reply = await service.upload(
        resources.db, plan, fmt, Scope.of(user), actor_of(user), resources.clock(), rows
    )
    feeds.committed()
    return reply


@router.get("", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def list_plans(
    user: CurrentUser,
    resources: ResourcesDep,
    site: str | None = None,
    area: str | None = None,
    line: str | None = None,
    since: Annotated[AwareDatetime | None, Query(description="Entries ending after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Entries starting before")] = None,
    include_replaced: bool = False,
    after: Annotated[str | None, Query(description="The `next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[PlanEntry]:
    """Plan entries in the caller's scope, by start time."""
    filters = PlanFilters(
        site=site,
        area=area,
        line=line,
        since=since,
        until=until,
        include_replaced=include_replaced,
    )
    return await service.list_entries(resources.db, filters, Scope.of(user), after, limit)


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
