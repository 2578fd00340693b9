"""Constraint rules: what puts a constraint on the floor, what ends it, who hears about it.

Two kinds of constraint:

* **derived**, kept in step with their source by :func:`derive` (the feeds pump runs it every
  ``feeds.poll_seconds``, and services that change a source run it in their own transaction):
  an active in-service alarm matched by ``feeds.constraint_rules`` (a machine-down alarm ->
  unavailable, a plan_deviation ``.behind`` alarm -> reduced) lasts while the alarm is active;
  an open quality hold is ``lot_held`` until released.
* **posted** by :func:`post_constraint` (playbook steps, through the governance half): it ends
  when a newer post on the same equipment and lot supersedes it, when its governed run is
  resolved, or by :func:`end_constraint`. A post with status ``available`` supersedes and is
  itself recorded as ended at once (a statement, not a constraint).

Every opening and ending is a row in ``constraint_changes`` (the SSE feed) and a webhook event
(``constraint.opened`` / ``constraint.ended``), in the transaction that makes it. Posts and
manual ends are audited; derived changes are not (their sources are).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from datetime import datetime

from hub.audit import service as audit
from hub.audit.schemas import SYSTEM_ACTOR, AuditEntry
from hub.auth.scope import Scope
from hub.config import ConstraintRule, ConstraintStatus
from hub.constraints import repository
from hub.constraints.repository import NewConstraint
from hub.constraints.schemas import (
    SEVERITY_ORDER,
    Constraint,
    ConstraintBoard,
    ConstraintFilters,
    EquipmentState,
)
from hub.errors import NotFound
from hub.holds import repository as holds
from hub.storage import Connection, Database
from hub.webhooks import service as webhooks

__all__ = ["derive", "end_constraint", "post_constraint"]


def _announce(
    conn: Connection, constraints: Sequence[Constraint], change: str, now: datetime
) -> None:
    for c in constraints:
        webhooks.enqueue(
            conn,
            f"constraint.{change}",
            c.model_dump(mode="json"),
            now,
            site=c.site,
            area=c.area,
        )


def post_constraint(
    conn: Connection,
    *,
    status: ConstraintStatus,
    reason: str,
    actor: str,
    now: datetime,
    site: str | None = None,
    area: str | None = None,
    line: str | None = None,
    equipment: str | None = None,
    capacity_impact_percent: float | None = None,
    lot: str | None = None,
    expected_end: datetime | None = None,
    run_id: int | None = None,
    source: str = "playbook",
) -> Constraint:
    """Post a constraint for planners; call inside the caller's write transaction.

    ``equipment`` defaults to ``line``. Open posted constraints on the same (site, line,
    equipment, lot) are ended as superseded. Returns the new constraint (already ended when
    ``status`` is ``available``). Subscribers see it on the stream within ``feeds.poll_seconds``
    of the commit, and webhooks get ``constraint.opened`` (and ``constraint.ended``).
    """
    equipment = equipment if equipment is not None else line
    superseded = repository.end(
        conn,
        repository.open_posted_like(conn, site, line, equipment, lot),
        f"superseded by a newer {status} constraint",
        now,
    )
    created = repository.insert(
        conn,
        NewConstraint(
            source=source,
            status=status,
            reason=reason,
            posted_by=actor,
            site=site,
            area=area,
            line=line,
            equipment=equipment,
            capacity_impact_percent=capacity_impact_percent,
            lot=lot,
            expected_end=expected_end,
            run_id=run_id,
        ),
        now,
    )
    ended = list(superseded)
    if status == "available":
        ended += repository.end(conn, [created.id], "equipment available", now)
    _announce(conn, [created], "opened", now)
    _announce(conn, ended, "ended", now)
    audit.record(
        conn,
        [
            AuditEntry(
                actor=actor,
                action="constraint.posted",
                object_type="constraint",
                object_id=str(created.id),
                after=created.model_dump(mode="json"),
                reason=reason,
                data={"superseded": [c.id for c in superseded], "run_id": run_id},
                site=site,
                area=area,
            )
        ],
        now,
    )
    return ended[-1] if status == "available" else created


def end_constraint(
    conn: Connection, constraint_id: int, reason: str, actor: str, now: datetime
) -> Constraint | None:
    """End an open constraint (None if it was not open); call inside a write transaction."""
    ended = repository.end(conn, [constraint_id], reason, now)
    if not ended:
        return None
    _announce(conn, ended, "ended", now)
    c = ended[0]
    audit.record(
        conn,
        [
            AuditEntry(
                actor=actor,
                action="constraint.ended",
                object_type="constraint",
                object_id=str(c.id),
                before={"ended_at": None},
                after={"ended_at": now.isoformat()},
                reason=reason,
                site=c.site,
                area=c.area,
            )
        ],
        now,
    )
    return c


def _rule_for(
    rules: Sequence[ConstraintRule], rule: str, category: str | None
) -> ConstraintRule | None:
    for candidate in rules:
        if candidate.rules and not any(fnmatch.fnmatchcase(rule, p) for p in candidate.rules):
            continue
        if candidate.categories and category not in candidate.categories:
            continue
        return candidate
    return None


def _from_alarms(conn: Connection, rules: Sequence[ConstraintRule]) -> dict[str, NewConstraint]:
    desired: dict[str, NewConstraint] = {}
    for alarm_id, rule, category, site, area, line, tag, agent_id in repository.active_alarms(conn):
        matched = _rule_for(rules, rule, category)
        if matched is None:
            continue
        key = f"alarm:{alarm_id}"
        desired[key] = NewConstraint(
            source="alarm",
            source_key=key,
            status=matched.status,
            reason=f"{matched.reason} (alarm {rule}{f' on {tag}' if tag else ''})",
            posted_by=SYSTEM_ACTOR,
            site=site,
            area=area,
            line=line,
            equipment=line or agent_id,
            capacity_impact_percent=matched.capacity_impact_percent,
            alarm_id=alarm_id,
        )
    return desired


def _from_holds(conn: Connection) -> dict[str, NewConstraint]:
    desired: dict[str, NewConstraint] = {}
    for hold in holds.open_holds(conn):
        key = f"hold:{hold.id}"
        desired[key] = NewConstraint(
            source="hold",
            source_key=key,
            status="lot_held",
            reason=hold.reason,
            posted_by=hold.placed_by,
            site=hold.site,
            area=hold.area,
            line=hold.line,
            equipment=hold.line,
            lot=hold.lot,
            expected_end=hold.expected_end,
            hold_id=hold.id,
        )
    return desired


def out_of_step(conn: Connection, rules: Sequence[ConstraintRule]) -> bool:
    """Whether :func:`derive` has work (cheap enough for a reader every poll)."""
    desired = {**_from_alarms(conn, rules), **_from_holds(conn)}
    return set(desired) != set(repository.open_derived(conn)) or bool(
        repository.open_for_resolved_runs(conn)
    )


def _reconcile(
    conn: Connection, desired: dict[str, NewConstraint], prefixes: tuple[str, ...], now: datetime
) -> tuple[list[Constraint], list[Constraint]]:
    open_now = {k: v for k, v in repository.open_derived(conn).items() if k.startswith(prefixes)}
    gone = [cid for key, cid in open_now.items() if key not in desired]
    ended = repository.end(conn, gone, "its source ended", now)
    opened = [
        repository.insert(conn, new, now) for key, new in desired.items() if key not in open_now
    ]
    return opened, ended


def derive(conn: Connection, rules: Sequence[ConstraintRule], now: datetime) -> int:
    """Open and end derived constraints to match their sources, and end posted constraints of
    resolved runs; returns the changes made. Call inside a write transaction."""
    desired = {**_from_alarms(conn, rules), **_from_holds(conn)}
    opened, ended = _reconcile(conn, desired, ("alarm:", "hold:"), now)
    ended += repository.end(conn, repository.open_for_resolved_runs(conn), "run resolved", now)
    _announce(conn, opened, "opened", now)
    _announce(conn, ended, "ended", now)
    return len(opened) + len(ended)


def derive_holds(conn: Connection, now: datetime) -> int:
    """:func:`derive` for holds only (needs no rules): services that change holds call it."""
    opened, ended = _reconcile(conn, _from_holds(conn), ("hold:",), now)
    _announce(conn, opened, "opened", now)
    _announce(conn, ended, "ended", now)
    return len(opened) + len(ended)


def _summary(constraints: Sequence[Constraint]) -> list[EquipmentState]:
    groups: dict[tuple[str | None, str | None, str | None, str | None], list[Constraint]] = {}
    for c in constraints:
        if c.status in ("reduced", "unavailable"):
            groups.setdefault((c.site, c.area, c.line, c.equipment), []).append(c)
    states = []
    for (site, area, line, equipment), members in groups.items():
        worst = max(members, key=lambda c: SEVERITY_ORDER[c.status])
        impacts = [
            c.capacity_impact_percent for c in members if c.capacity_impact_percent is not None
        ]
        ends = [c.expected_end for c in members]
        states.append(
            EquipmentState(
                site=site,
                area=area,
                line=line,
                equipment=equipment,
                status=worst.status,
                capacity_impact_percent=max(impacts) if impacts else None,
                expected_end=None if any(e is None for e in ends) else max(e for e in ends if e),
                constraint_ids=sorted(c.id for c in members),
            )
        )
    return sorted(states, key=lambda s: (-SEVERITY_ORDER[s.status], str(s.equipment)))


async def board(
    db: Database, filters: ConstraintFilters, scope: Scope, now: datetime
) -> ConstraintBoard:
    def query(cur: Connection) -> ConstraintBoard:
        # The change id first: a change committed between the two reads is then sent again on
        # the stream rather than missed.
        last = repository.last_change_id(cur)
        constraints = repository.list_open(cur, filters, scope)
        return ConstraintBoard(
            as_of=now,
            constraints=constraints,
            equipment=_summary(constraints),
            lots_held=sorted({c.lot for c in constraints if c.lot_held and c.lot}),
            last_change_id=last,
        )

    return await db.read(query)


async def get(db: Database, constraint_id: int, scope: Scope) -> Constraint:
    found = await db.read(lambda cur: repository.get(cur, constraint_id))
    if found is None or not scope.allows(found.site, found.area):
        raise NotFound(f"no constraint {constraint_id}")
    return found
