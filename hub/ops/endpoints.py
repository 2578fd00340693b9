"""HTTP for operations: ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from hub.alarms import service as alarms
from hub.deps import ResourcesDep
from hub.ops.metrics import CONTENT_TYPE

router = APIRouter(tags=["ops"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(resources: ResourcesDep) -> Response:
    """Open like /healthz (counts only, no plant data), for a Prometheus scraper."""
    text = resources.metrics.render(
        open_alarms=await alarms.open_by_state(resources.db, resources.clock()),
        queued_writes=resources.db.queued_writes,
        journal_segments=resources.ingest.unloaded_segments,
        subscribers=resources.bus.subscribers,
        stream_overflows=resources.bus.overflows,
    )
    return Response(text, media_type=CONTENT_TYPE)
