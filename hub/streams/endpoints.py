"""SSE for live panels: ``GET /api/v1/alarms/stream``.

Server-sent events over a plain ``StreamingResponse``: the format is three line types, so a
library would add a dependency for little. Each change is ``event: alarm`` with the JSON of
``{"transition", "alarm"}``; a comment line goes out every ``heartbeat_seconds`` so proxies and
clients see a live connection; ``event: ready`` opens the stream once the subscription is in
place (nothing committed after it is missed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from hub.auth.deps import CurrentUser
from hub.auth.scope import Scope
from hub.deps import ResourcesDep
from hub.errors import Forbidden, Unauthorized, error_responses
from hub.streams.bus import OVERFLOW, AlarmBus, AlarmChange

router = APIRouter(tags=["streams"])

_SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "An SSE stream"}
}


@router.get(
    "/alarms/stream",
    response_class=StreamingResponse,
    responses={**_SSE_RESPONSE, **error_responses(Unauthorized, Forbidden)},
)
async def stream_alarms(user: CurrentUser, resources: ResourcesDep) -> StreamingResponse:
    """Every alarm change in the caller's scope, as it commits."""
    bus = resources.bus
    heartbeat = resources.config.streams.heartbeat_seconds
    return StreamingResponse(
        _events(bus, Scope.of(user), heartbeat),
        media_type="text/event-stream",
        # No caching, and no buffering in nginx-style proxies: each event must go out at once.
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(bus: AlarmBus, scope: Scope, heartbeat: float) -> AsyncIterator[str]:
    subscription = bus.subscribe(scope)
    try:
        yield "retry: 3000\nevent: ready\ndata: {}\n\n"
        while True:
            try:
                item = await asyncio.wait_for(subscription.queue.get(), timeout=heartbeat)
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if item is OVERFLOW:
                yield 'event: overflow\ndata: {"reason": "too far behind; reconnect"}\n\n'
                return
            assert isinstance(item, AlarmChange)
            data = json.dumps(
                {"transition": item.transition, "alarm": item.alarm.model_dump(mode="json")}
            )
            yield f"id: {item.id}\nevent: alarm\ndata: {data}\n\n"
    finally:
        bus.unsubscribe(subscription)
