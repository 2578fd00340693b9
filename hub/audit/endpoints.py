"""HTTP for the audit log: read-only by construction (there is no route that writes it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from hub.audit import service
from hub.audit.chain import parse_anchor
from hub.audit.schemas import AuditFilters, AuditRecord, VerifyReply
from hub.auth.deps import CurrentUser
from hub.auth.scope import Scope
from hub.deps import DbDep
from hub.errors import Forbidden, Unauthorized, Unprocessable, error_responses
from hub.paging import DEFAULT_LIMIT, MAX_LIMIT, Page

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def list_audit(
    user: CurrentUser,
    db: DbDep,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    since: Annotated[AwareDatetime | None, Query(description="Inclusive")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Exclusive")] = None,
    after: Annotated[str | None, Query(description="The `next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[AuditRecord]:
    """Audit records in chain order, limited to the caller's sites and areas."""
    filters = AuditFilters(
        object_type=object_type, object_id=object_id, actor=actor, since=since, until=until
    )
    return await service.list_records(db, Scope.of(user), filters, after, limit)


@router.get("/verify", responses=error_responses(Unauthorized, Forbidden, Unprocessable))
async def verify_audit(
    user: CurrentUser,
    db: DbDep,
    anchor: Annotated[
        list[str] | None,
        Query(description="`SEQ:HASH` written down earlier (e.g. a past `head`); repeatable"),
    ] = None,
) -> VerifyReply:
    """Recompute the whole chain; ``first_bad`` names the first record that breaks it.

    Write ``records:head`` of an intact reply down outside the hub and pass it back as ``anchor``
    later: a chain rewritten from scratch cannot match it."""
    try:
        anchors = dict(parse_anchor(text) for text in anchor or [])
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc
    return await service.verify(db, anchors)
