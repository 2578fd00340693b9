"""Rules for what outside systems send.

* A recommendation is stored, audited, announced by webhook (``recommendation.received``) and
  written as a feed event in one commit; the governance pump reads feed events with
  :func:`feed_events_after` (its own cursor) and runs matching playbooks, as for a floor alarm
  (hub/governance/pump.py), reporting the outcome back by webhook.
* Inventory positions and supplier commitments keep the newest figure per key (by the sender's
  ``as_of``: a late, older figure never overwrites a newer one); :func:`snapshot` gives them
  with their age for the snapshot of each approval and signature (hub/governance/snapshot.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.audit import service as audit
from hub.audit.schemas import AuditEntry
from hub.auth.scope import Scope
from hub.errors import Forbidden, Unprocessable
from hub.external import repository
from hub.external.schemas import (
    FeedEvent,
    InventoryPosition,
    InventoryRequest,
    InventoryView,
    Recommendation,
    RecommendationRequest,
    StoredReply,
    SupplyCommitment,
    SupplyRequest,
    SupplyView,
)
from hub.storage import Connection, Database
from hub.webhooks import service as webhooks

RECOMMENDATION_RECEIVED = "recommendation.received"
SNAPSHOT_LIMIT = 200
"""Rows of each kind in one snapshot."""


def trigger_of(recommendation: Recommendation) -> dict[str, Any]:
    """How a recommendation looks to playbook matching, in the terms of an alarm trigger:
    ``rule`` is ``recommendation.<proposed_action>``, ``tag`` the equipment or lot."""
    s = recommendation.scope
    return {
        "rule": f"recommendation.{recommendation.proposed_action}",
        "tag": s.equipment or s.lot,
        "category": recommendation.category,
        "severity": recommendation.severity,
        "site": s.site,
        "area": s.area,
        "line": s.line,
    }


async def submit_recommendation(
    db: Database, body: RecommendationRequest, scope: Scope, actor: str, now: datetime
) -> Recommendation:
    """Raises: Forbidden outside the caller's scope; Unprocessable for an expiry in the past."""
    if not scope.allows(body.scope.site, body.scope.area):
        raise Forbidden("scope: the recommendation's site/area is outside your scope")
    if body.expires_at <= now:
        raise Unprocessable("expires_at: must be in the future")

    def work(conn: Connection) -> Recommendation:
        if body.external_id is not None:
            found = repository.find_recommendation(conn, body.source_system, body.external_id)
            if found is not None:
                return found.model_copy(update={"duplicate": True})
        rec = repository.insert_recommendation(conn, body, actor, now)
        payload = {**rec.model_dump(mode="json"), "trigger": trigger_of(rec)}
        repository.insert_feed_event(
            conn,
            RECOMMENDATION_RECEIVED,
            str(rec.id),
            (rec.scope.site, rec.scope.area, rec.scope.line),
            payload,
            now,
        )
        webhooks.enqueue(
            conn, RECOMMENDATION_RECEIVED, payload, now, site=rec.scope.site, area=rec.scope.area
        )
        audit.record(
            conn,
            [
                AuditEntry(
                    actor=actor,
                    action=RECOMMENDATION_RECEIVED,
                    object_type="recommendation",
                    object_id=str(rec.id),
                    after=rec.model_dump(mode="json"),
                    reason=rec.rationale,
                    site=rec.scope.site,
                    area=rec.scope.area,
                )
            ],
            now,
        )
        return rec

    return await db.write(work)


async def list_recommendations(db: Database, scope: Scope, limit: int) -> list[Recommendation]:
    return await db.read(lambda cur: repository.list_recommendations(cur, scope, limit))


def feed_events_after(conn: Connection, after: int, limit: int = 100) -> list[FeedEvent]:
    """Feed events with ``id > after``, oldest first (for the governance trigger scan)."""
    return repository.feed_events_after(conn, after, limit)


def last_feed_event(conn: Connection) -> int:
    """The newest feed event's id (0 when none): the governance scan reads up to it."""
    return repository.last_feed_event(conn)


def _check_scope(scope: Scope, rows: Sequence[tuple[str, str | None]], what: str) -> None:
    for index, (site, area) in enumerate(rows):
        if not scope.allows(site, area):
            raise Forbidden(f"{what}[{index}]: {site}/{area or '(no area)'} is outside your scope")


async def store_inventory(
    db: Database, body: InventoryRequest, scope: Scope, now: datetime
) -> StoredReply:
    _check_scope(scope, [(p.site, p.area) for p in body.positions], "positions")
    newest: dict[tuple[str, str, str], InventoryPosition] = {}
    for p in body.positions:  # within one request, the newest figure per key wins
        key = (p.site, p.item, p.location)
        if key not in newest or p.as_of >= newest[key].as_of:
            newest[key] = p

    def work(conn: Connection) -> StoredReply:
        held = repository.inventory_as_of(conn, list(newest))
        fresh = [p for key, p in newest.items() if key not in held or p.as_of >= held[key]]
        repository.upsert_inventory(conn, body.source_system, fresh, now)
        return StoredReply(stored=len(fresh), stale=len(body.positions) - len(fresh))

    return await db.write(work)


async def store_supply(
    db: Database, body: SupplyRequest, scope: Scope, now: datetime
) -> StoredReply:
    _check_scope(scope, [(c.site, c.area) for c in body.commitments], "commitments")
    newest: dict[str, SupplyCommitment] = {}
    for c in body.commitments:
        if c.reference not in newest or c.as_of >= newest[c.reference].as_of:
            newest[c.reference] = c

    def work(conn: Connection) -> StoredReply:
        held = repository.supply_as_of(conn, body.source_system, list(newest))
        fresh = [c for ref, c in newest.items() if ref not in held or c.as_of >= held[ref]]
        repository.upsert_supply(conn, body.source_system, fresh, now)
        return StoredReply(stored=len(fresh), stale=len(body.commitments) - len(fresh))

    return await db.write(work)


def _filters(
    scope: Scope,
    site: str | None,
    area: str | None,
    items: Sequence[str] | None,
    patterns: Sequence[str] | None = None,
) -> tuple[list[str], dict[str, Any]]:
    scope_sql, params = scope.sql()
    where = [scope_sql]
    if site is not None:
        where.append("site = $site")
        params["site"] = site
    if area is not None:
        # Rows without an area are site-wide (a warehouse): they belong to every area's snapshot.
        where.append("(area IS NULL OR area = $area)")
        params["area"] = area
    if items:
        where.append("list_contains($items::VARCHAR[], item)")
        params["items"] = list(items)
    if patterns is not None:
        globs = [f"item GLOB $item_glob{i}" for i in range(len(patterns))]
        where.append(f"({' OR '.join(globs) or 'FALSE'})")
        params |= {f"item_glob{i}": glob for i, glob in enumerate(patterns)}
    return where, params


def _age(now: datetime, as_of: datetime) -> float:
    return round((now - as_of).total_seconds(), 3)


def inventory(
    conn: Connection,
    now: datetime,
    *,
    scope: Scope | None = None,
    site: str | None = None,
    area: str | None = None,
    items: Sequence[str] | None = None,
    patterns: Sequence[str] | None = None,
    limit: int = SNAPSHOT_LIMIT,
) -> list[InventoryView]:
    """``items``: exact item names; ``patterns``: ``*``/``?`` globs on the item (None: any)."""
    where, params = _filters(scope or Scope(), site, area, items, patterns)
    return [
        InventoryView(
            source_system=r[0],
            site=r[1],
            area=r[2],
            item=r[3],
            location=r[4],
            quantity=r[5],
            unit=r[6],
            as_of=r[7],
            received_at=r[8],
            age_seconds=_age(now, r[7]),
        )
        for r in repository.inventory_rows(conn, where, params, limit)
    ]


def supply(
    conn: Connection,
    now: datetime,
    *,
    scope: Scope | None = None,
    site: str | None = None,
    area: str | None = None,
    items: Sequence[str] | None = None,
    patterns: Sequence[str] | None = None,
    limit: int = SNAPSHOT_LIMIT,
) -> list[SupplyView]:
    """``items``: exact item names; ``patterns``: ``*``/``?`` globs on the item (None: any)."""
    where, params = _filters(scope or Scope(), site, area, items, patterns)
    return [
        SupplyView(
            source_system=r[0],
            reference=r[1],
            supplier=r[2],
            site=r[3],
            area=r[4],
            item=r[5],
            quantity=r[6],
            unit=r[7],
            due_at=r[8],
            status=r[9],
            as_of=r[10],
            received_at=r[11],
            age_seconds=_age(now, r[10]),
        )
        for r in repository.supply_rows(conn, where, params, limit)
    ]


def snapshot(
    conn: Connection,
    now: datetime,
    *,
    site: str,
    area: str | None = None,
    patterns: Sequence[str] = ("*",),
    limit: int = SNAPSHOT_LIMIT,
) -> dict[str, list[dict[str, Any]]]:
    """Inventory and supply of a site (an area's rows and the site-wide rows without an area;
    every area's when ``area`` is None) whose item matches one of ``patterns``, as JSON-ready
    dicts with ``age_seconds`` (``now`` minus the sender's ``as_of``), for a decision snapshot.
    Call on any connection (a reader or inside a write transaction).

    Returns ``{"inventory": [...], "supply": [...]}``, at most ``limit`` rows of each.
    """
    positions = inventory(conn, now, site=site, area=area, patterns=patterns, limit=limit)
    commitments = supply(conn, now, site=site, area=area, patterns=patterns, limit=limit)
    return {
        "inventory": [p.model_dump(mode="json") for p in positions],
        "supply": [c.model_dump(mode="json") for c in commitments],
    }
