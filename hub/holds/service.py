"""Hold rules: holds and releases of one request commit together with their audit records,
the lot_held constraints, the webhook events and the hold-list commands for the agents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from hub.audit import service as audit
from hub.audit.schemas import AuditEntry
from hub.auth.scope import Scope
from hub.constraints import service as constraints
from hub.errors import Conflict, Forbidden
from hub.holds import repository
from hub.holds.schemas import Hold, HoldFilters, HoldsReply, HoldsRequest
from hub.plans import repository as plans
from hub.plans import sync
from hub.storage import Connection, Database
from hub.webhooks import service as webhooks


def _entry(actor: str, action: str, hold: Hold, reason: str, before: object = None) -> AuditEntry:
    return AuditEntry(
        actor=actor,
        action=action,
        object_type="hold",
        object_id=str(hold.id),
        before=before,
        after=hold.model_dump(mode="json"),
        reason=reason,
        site=hold.site,
        area=hold.area,
    )


def apply(
    conn: Connection, request: HoldsRequest, scope: Scope, actor: str, now: datetime
) -> HoldsReply:
    """Place and release holds; call inside a write transaction.

    Raises:
        Forbidden: an item is outside the caller's scope.
        Conflict: a release names a lot with no open hold the caller can see.
    """
    return apply_with_commands(conn, request, scope, actor, now)[0]


def apply_with_commands(
    conn: Connection, request: HoldsRequest, scope: Scope, actor: str, now: datetime
) -> tuple[HoldsReply, list[sync.Queued]]:
    """:func:`apply`, also returning the hold-list (and plan) commands it queued: governance
    holds lots through here and links each hold action to the commands that carry it.

    Raises:
        Forbidden: an item is outside the caller's scope.
        Conflict: a release names a lot with no open hold the caller can see.
    """
    areas = plans.line_areas(conn)
    placed: list[Hold] = []
    unchanged: list[Hold] = []
    released: list[Hold] = []
    entries: list[AuditEntry] = []
    for index, item in enumerate(request.hold):
        area = item.area
        if area is None and item.site is not None and item.line is not None:
            known = areas.get((item.site, item.line), set())
            area = next(iter(known)) if len(known) == 1 else None
        if not scope.allows(item.site, area):
            raise Forbidden(
                f"hold[{index}]: lot {item.lot!r} at {item.site or '(every site)'}/"
                f"{area or '(no area)'} is outside your scope; nothing changed"
            )
        existing = repository.find_open(conn, item.lot, item.site, item.line)
        if existing is not None:
            unchanged.append(existing)
            continue
        hold = repository.insert(conn, item, area, actor, now)
        placed.append(hold)
        entries.append(_entry(actor, "hold.placed", hold, item.reason))
    for index, release in enumerate(request.release):
        matching = [
            h
            for h in repository.open_of_lot(conn, release.lot)
            if (release.site is None or h.site == release.site)
            and (release.line is None or h.line == release.line)
            and scope.allows(h.site, h.area)
        ]
        if not matching:
            raise Conflict(
                f"release[{index}]: lot {release.lot!r} has no open hold"
                f"{f' at {release.site}' if release.site else ''}"
                f"{f' on line {release.line}' if release.line else ''} in your scope;"
                " nothing changed"
            )
        ids = [h.id for h in matching]
        for hold in repository.release(conn, ids, actor, release.reason, now):
            released.append(hold)
            entries.append(_entry(actor, "hold.released", hold, release.reason, {"open": True}))
    audit.record(conn, entries, now)
    _announce(conn, placed, "hold.placed", now)
    _announce(conn, released, "hold.released", now)
    # lot_held constraints follow the holds in this same commit (no rules needed for holds).
    constraints.derive_holds(conn, now)
    queued = sync.queue_commands(conn, now)
    reply = HoldsReply(placed=placed, unchanged=unchanged, released=released, commands=len(queued))
    return reply, queued


def _announce(conn: Connection, holds: Sequence[Hold], event: str, now: datetime) -> None:
    for hold in holds:
        webhooks.enqueue(
            conn, event, hold.model_dump(mode="json"), now, site=hold.site, area=hold.area
        )


async def change(
    db: Database, request: HoldsRequest, scope: Scope, actor: str, now: datetime
) -> HoldsReply:
    return await db.write(lambda conn: apply(conn, request, scope, actor, now))


async def list_holds(db: Database, filters: HoldFilters, scope: Scope) -> list[Hold]:
    return await db.read(lambda cur: repository.list_holds(cur, filters, scope))
