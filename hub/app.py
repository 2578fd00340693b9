"""The hub's FastAPI app: read this first. The lifespan owns the database; routers come per domain.

Request path: endpoints (HTTP, auth) -> service (rules) -> repository (SQL) -> storage (DuckDB).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic.json_schema import models_json_schema

from hub.alarms import service as alarms_service
from hub.alarms import timer as shelve_timer
from hub.alarms.endpoints import router as alarms_router
from hub.approvals.endpoints import router as approvals_router
from hub.audit.endpoints import router as audit_router
from hub.auth.endpoints import router as auth_router
from hub.config import HubConfig
from hub.constraints import runtime as feeds_runtime
from hub.constraints.endpoints import router as constraints_router
from hub.deps import Clock, DbDep, Resources
from hub.errors import BadRequest, HubError, error_responses, render_error
from hub.external.endpoints import router as external_router
from hub.governance import runtime as governance_runtime
from hub.governance.endpoints import router as delegations_router
from hub.holds.endpoints import router as holds_router
from hub.ingest.endpoints import OPENAPI_MODELS
from hub.ingest.endpoints import router as ingest_router
from hub.ingest.workers import PreparePool, default_workers
from hub.kpis.endpoints import router as kpis_router
from hub.ops.access_log import AccessLog
from hub.ops.endpoints import router as ops_router
from hub.pages.api import router as pages_api_router
from hub.pages.endpoints import STATIC_URL, static_files
from hub.pages.endpoints import router as pages_router
from hub.plans.endpoints import OPENAPI_MODELS as PLAN_MODELS
from hub.plans.endpoints import router as plans_router
from hub.playbooks.endpoints import router as playbooks_router
from hub.storage import Database, schema_version
from hub.streams.bus import AlarmBus
from hub.streams.endpoints import router as streams_router
from hub.tasks.endpoints import router as tasks_router
from hub.values.endpoints import router as values_router
from hub.webhooks.endpoints import router as webhooks_router
from protocols.wire import WIRE_VERSION, utc_now

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def create_app(config: HubConfig, *, clock: Clock = utc_now) -> FastAPI:
    """Build the hub app; nothing is opened until the server runs the lifespan.

    Args:
        config: the validated hub configuration.
        clock: the source of "now" (tests pass their own to move time without sleeping).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        db = Database(config.storage.path, config.storage.threads)
        await db.open()
        stack = contextlib.AsyncExitStack()
        try:
            workers = config.ingest.workers
            resources = Resources(
                config=config,
                db=db,
                clock=clock,
                bus=AlarmBus(config.streams.max_queued),
                ingest_workers=PreparePool(default_workers() if workers is None else workers),
            )
            stack.push_async_callback(resources.ingest_workers.close)
            # What the last run left in the ingest journal is loaded before anyone is served.
            await resources.ingest.open(db)
            stack.push_async_callback(resources.ingest.close)
            # Catch up on shelves that ended while the hub was down, before serving anyone.
            await alarms_service.expire_shelves(db, resources.bus, clock())
            timer = asyncio.create_task(
                shelve_timer.run(
                    db,
                    resources.bus,
                    clock,
                    config.alarms.timer_poll_seconds,
                    resources.shelve_timer,
                ),
                name="shelve-timer",
            )
            try:
                # Playbooks load (an invalid file stops the start) and due SLA timers fire here.
                async with (
                    governance_runtime.running(
                        db, clock, config.playbooks, settled=resources.ingest.settled
                    ) as governance,
                    # Feeds: constraint derivation and stream, agent plan/hold sync, webhooks.
                    feeds_runtime.running(db, clock, config) as feeds,
                ):
                    yield {"resources": resources, "governance": governance, "feeds": feeds}
            finally:
                # The lifespan owns the task: it ends before the database it uses closes.
                timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timer
        finally:
            try:
                await stack.aclose()  # the ingest journal is loaded before the database closes
            finally:
                await db.close()

    app = FastAPI(
        title="Floorgate hub",
        version=f"wire-v{WIRE_VERSION}",
        lifespan=lifespan,
        # Operation ids are the endpoint names: short for clients, and the keys of the policy
        # table (hub/auth/policy.py). FastAPI warns of a duplicate; tests make that an error.
        generate_unique_id_function=_operation_id,
        exception_handlers={HubError: render_error, RequestValidationError: render_error},
    )
    # Any route with a body answers 400 when the body is not even JSON (bad UTF-8, say):
    # Starlette's parser refuses it before validation, so every route documents it here.
    api = APIRouter(prefix=API_PREFIX, responses=error_responses(BadRequest))
    api.include_router(auth_router)
    api.include_router(ingest_router)
    # Before the alarms router: /alarms/stream must not be read as /alarms/{alarm_id}.
    api.include_router(streams_router)
    api.include_router(alarms_router)
    api.include_router(values_router)
    api.include_router(audit_router)
    api.include_router(tasks_router)
    api.include_router(approvals_router)
    api.include_router(delegations_router)
    api.include_router(playbooks_router)
    api.include_router(pages_api_router)
    api.include_router(plans_router)
    api.include_router(holds_router)
    api.include_router(constraints_router)
    api.include_router(webhooks_router)
    api.include_router(external_router)
    api.include_router(kpis_router)
    app.include_router(api)
    app.include_router(ops_router)
    app.include_router(pages_router)
    app.mount(STATIC_URL, static_files(), name="static")
    if config.logs.json_requests:
        app.add_middleware(AccessLog)

    @app.get("/healthz", tags=["health"])
    async def healthz(db: DbDep) -> dict[str, str]:
        """Open; ``ok`` once the database answers a query."""
        await db.read(schema_version)
        return {"status": "ok"}

    _add_openapi_models(app, (*OPENAPI_MODELS, *PLAN_MODELS))
    return app


def _operation_id(route: APIRoute) -> str:
    return route.name


def _add_openapi_models(app: FastAPI, models: tuple[type[Any], ...]) -> None:
    """Publish models that routes document by ``$ref`` without taking them as parameters."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()  # also caches it in app.openapi_schema
            _, defs = models_json_schema(
                [(model, "validation") for model in models],
                ref_template="#/components/schemas/{model}",
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in defs.get("$defs", {}).items():
                components.setdefault(name, definition)
            app.openapi_schema = schema
        return app.openapi_schema

    # FastAPI's documented way to extend the generated schema is to replace app.openapi.
    app.openapi = openapi  # type: ignore[method-assign]
