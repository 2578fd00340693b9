"""HTTP for the constraint board: ``GET /constraints`` and the live ``GET /constraints/stream``.

The stream is SSE like the alarm stream (hub/streams/endpoints.py): ``event: ready`` once the
subscription is in place, then ``event: constraint`` per change with ``id:`` the change id and
data ``{"change": "opened" | "ended", "at", "constraint": {...}}``, a comment line every
``streams.heartbeat_seconds``, and ``event: overflow`` before it closes a client too far
behind. A client that reconnects with ``Last-Event-ID`` (or sends the board's
``last_change_id`` in it) first gets every change after that id from the database.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from hub.audit.schemas import actor_of
from hub.auth.deps import CurrentUser
from hub.auth.scope import Scope
from hub.config import ConstraintStatus
from hub.constraints import repository, service
from hub.constraints.bus import OVERFLOW
from hub.constraints.runtime import Feeds, FeedsDep
from hub.constraints.schemas import Constraint, ConstraintBoard, ConstraintChange, ConstraintFilters
from hub.deps import ResourcesDep, RowId
from hub.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable, error_responses
from hub.storage import BIGINT_MAX, Connection

router = APIRouter(prefix="/constraints", tags=["constraints"])

_SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "An SSE stream"}
}
REPLAY_BATCH = 1000


class EndRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(min_length=1, max_length=2000)


@router.get("", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def list_constraints(
    user: CurrentUser,
    resources: ResourcesDep,
    feeds: FeedsDep,
    site: str | None = None,
    area: str | None = None,
    line: str | None = None,
    status: ConstraintStatus | None = None,
) -> ConstraintBoard:
    """The open floor constraints in the caller's scope, with an equipment summary."""
    # Derive first: the board is current even between two pump passes.
    await feeds.catch_up()
    filters = ConstraintFilters(site=site, area=area, line=line, status=status)
    return await service.board(resources.db, filters, Scope.of(user), resources.clock())


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={**_SSE_RESPONSE, **error_responses(Unauthorized, Forbidden, Unprocessable)},
)
async def stream_constraints(
    request: Request, user: CurrentUser, resources: ResourcesDep, feeds: FeedsDep
) -> StreamingResponse:
    """Every constraint change in the caller's scope, as it commits. Send ``Last-Event-ID``
    (the last change id seen, or a board's ``last_change_id``) to get what came after it."""
    # Read from the headers rather than declared: browsers' EventSource sets it on reconnect.
    last_event_id = request.headers.get("last-event-id")
    resume: int | None = None
    if last_event_id is not None:
        try:
            resume = max(0, int(last_event_id))
        except ValueError:
            raise Unprocessable("Last-Event-ID: expected a change id") from None
        if resume > BIGINT_MAX:
            raise Unprocessable("Last-Event-ID: no such change id")
    return StreamingResponse(
        _events(feeds, Scope.of(user), resume, resources.config.streams.heartbeat_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/{constraint_id}", responses=error_responses(Unauthorized, Forbidden, NotFound))
async def get_constraint(
    constraint_id: RowId, user: CurrentUser, resources: ResourcesDep
) -> Constraint:
    """One constraint, open or ended."""
    return await service.get(resources.db, constraint_id, Scope.of(user))


@router.post(
    "/{constraint_id}/end",
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
)
async def end_constraint(
    constraint_id: RowId,
    body: EndRequest,
    user: CurrentUser,
    resources: ResourcesDep,
    feeds: FeedsDep,
) -> Constraint:
    """End a posted constraint (derived ones end with their alarm or hold)."""
    scope = Scope.of(user)
    now = resources.clock()

    def work(conn: Connection) -> Constraint:
        found = repository.get(conn, constraint_id)
        if found is None or not scope.allows(found.site, found.area):
            raise NotFound(f"no constraint {constraint_id}")
        if found.ended_at is not None:
            raise Conflict(f"constraint {constraint_id} has already ended")
        if found.source in ("alarm", "hold"):
            raise Conflict(
                f"constraint {constraint_id} follows its {found.source}: it ends when that does"
            )
        ended = service.end_constraint(conn, constraint_id, body.reason, actor_of(user), now)
        assert ended is not None
        return ended

    ended = await resources.db.write(work)
    feeds.committed()
    return ended


def _sse(change: ConstraintChange) -> str:
    data = json.dumps(
        {
            "change": change.change,
            "at": change.at.isoformat(),
            "constraint": change.constraint.model_dump(mode="json"),
        }
    )
    return f"id: {change.id}\nevent: constraint\ndata: {data}\n\n"


async def _events(
    feeds: Feeds, scope: Scope, resume: int | None, heartbeat: float
) -> AsyncIterator[str]:
    subscription = feeds.bus.subscribe(scope)
    try:
        yield "retry: 3000\nevent: ready\ndata: {}\n\n"
        sent = -1
        if resume is not None:
            sent = resume
            while True:
                replay = await feeds.db.read(
                    functools.partial(repository.changes_after, after=sent, limit=REPLAY_BATCH)
                )
                for change in replay:
                    if scope.allows(change.constraint.site, change.constraint.area):
                        yield _sse(change)
                    sent = change.id
                if len(replay) < REPLAY_BATCH:
                    break
        while True:
            try:
                item = await asyncio.wait_for(subscription.queue.get(), timeout=heartbeat)
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if item is OVERFLOW:
                yield 'event: overflow\ndata: {"reason": "too far behind; reconnect"}\n\n'
                return
            assert isinstance(item, ConstraintChange)
            if item.id <= sent:
                continue  # already sent from the database
            yield _sse(item)
    finally:
        feeds.bus.unsubscribe(subscription)
