"""HTTP for KPIs."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from hub.auth.deps import CurrentUser
from hub.auth.scope import Scope
from hub.deps import ResourcesDep
from hub.errors import Forbidden, Unauthorized, Unprocessable, error_responses
from hub.kpis import service
from hub.kpis.schemas import KpiReport

router = APIRouter(prefix="/kpis", tags=["kpis"])

MAX_WINDOW = timedelta(days=366)


@router.get("", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def get_kpis(
    user: CurrentUser,
    resources: ResourcesDep,
    start: Annotated[
        AwareDatetime | None, Query(alias="from", description="Inclusive; default: `to` - 24 h")
    ] = None,
    end: Annotated[
        AwareDatetime | None, Query(alias="to", description="Exclusive; default: now")
    ] = None,
    site: str | None = None,
    area: str | None = None,
) -> KpiReport:
    """Plan-to-outcome and ISA-18.2 alarm-load figures per site and area in the caller's scope."""
    until = end or resources.clock()
    since = start or until - timedelta(hours=24)
    if since >= until:
        raise Unprocessable("from: must be before to")
    if until - since > MAX_WINDOW:
        raise Unprocessable("from/to: at most 366 days")
    return await service.report(resources.db, since, until, Scope.of(user), site, area)
