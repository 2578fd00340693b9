"""HTTP for operations: ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from hub.alarms import service as alarms
from hub.deps import ResourcesDep
from hub.ops.metrics import CONTENT_TYPE, render

router = APIRouter(tags=["ops"])


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(resources: ResourcesDep) -> PlainTextResponse:
    """Open like /healthz (counts only, no plant data), for a Prometheus scraper."""
    text = render(
        resources.metrics,
        open_alarms=await alarms.open_by_state(resources.db, resources.clock()),
        queued_writes=resources.db.queued_writes,
        subscribers=resources.bus.subscribers,
        stream_overflows=resources.bus.overflows,
    )
    return PlainTextResponse(text, media_type=CONTENT_TYPE)
