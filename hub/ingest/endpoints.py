"""HTTP for ingest and the event log: read (and gunzip) the raw body, authorise, call the service.

The ingest body is read raw rather than as a FastAPI body model so that one malformed event is
rejected alone instead of failing the whole request with a 422.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from hub.auth.deps import CurrentAgent, CurrentUser
from hub.auth.scope import Scope
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
from hub.ingest import service
from hub.ingest.schemas import EventFilters, StoredEvent
from hub.paging import DEFAULT_LIMIT, MAX_LIMIT, Page
from protocols.wire import EventType, IngestReply, IngestRequest

MAX_BODY_BYTES = 32 * 1024 * 1024
"""Cap on the body, before and after gunzip (10,000 events of about 1 KiB fit comfortably)."""

OPENAPI_MODELS = (IngestRequest,)
"""Models the app adds to the OpenAPI components (the ingest body is not a FastAPI parameter)."""

router = APIRouter(tags=["ingest"])

_INGEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A batch of events from one agent; may be sent with Content-Encoding: gzip.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestRequest"}}},
    }
}


@router.post(
    "/ingest",
    openapi_extra=_INGEST_BODY,
    responses=error_responses(
        BadRequest, Unauthorized, Forbidden, PayloadTooLarge, UnsupportedMediaType, Unprocessable
    ),
)
async def ingest(request: Request, agent_id: CurrentAgent, resources: ResourcesDep) -> IngestReply:
    """Store a batch of events; the reply comes only after they are committed."""
    body = await _read_body(request)
    reply = await service.ingest(
        resources.ingest_workers,
        resources.ingest,
        resources.bus,
        agent_id,
        body,
        resources.clock(),
    )
    resources.metrics.count_batch(len(reply.accepted), len(reply.duplicates), len(reply.rejected))
    return reply


@router.get("/events", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def list_events(
    user: CurrentUser,
    resources: ResourcesDep,
    agent_id: str | None = None,
    type: EventType | None = None,
    tag: str | None = None,
    since: Annotated[AwareDatetime | None, Query(description="source_time, inclusive")] = None,
    until: Annotated[AwareDatetime | None, Query(description="source_time, exclusive")] = None,
    after: Annotated[str | None, Query(description="The `next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[StoredEvent]:
    """Stored events in the caller's scope, in (agent_id, seq) order."""
    filters = EventFilters(
        agent_id=agent_id, type=type.value if type else None, tag=tag, since=since, until=until
    )
    return await service.list_events(
        resources.db, resources.ingest, filters, Scope.of(user), after, limit
    )


async def _read_body(request: Request) -> bytes:
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    chunks: list[bytes] = []
    size = 0
    # Streamed with a running total so an oversized body is refused before it is all in memory.
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if encoding == "gzip":
        body = await asyncio.to_thread(_gunzip, body)
    return body


def _gunzip(data: bytes) -> bytes:
    """Decompress all gzip members, refusing output over the cap (a small bomb stays small)."""
    out = bytearray()
    while data:
        decompressor = zlib.decompressobj(wbits=31)
        try:
            out += decompressor.decompress(data, MAX_BODY_BYTES + 1 - len(out))
        except zlib.error as exc:
            raise BadRequest(f"body is not valid gzip: {exc}") from exc
        if len(out) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"body larger than {MAX_BODY_BYTES} bytes once decompressed")
        if not decompressor.eof:
            raise BadRequest("gzip body is truncated")
        data = decompressor.unused_data
    return bytes(out)
