"""Delegation rules: a user delegates their own role to another user for a window; the
delegate may then act for that role within the delegator's scope (and for tasks naming the
delegator). Creation and revocation are audited."""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.audit.schemas import user_actor
from hub.auth import repository as users
from hub.auth.schemas import Role, User
from hub.errors import Conflict, Forbidden, NotFound, Unprocessable
from hub.governance import audit, repository
from hub.governance.records import Delegation
from hub.governance.schemas import DelegationRequest, DelegationView
from hub.storage import Connection, Database

MAX_DELEGATION = timedelta(days=90)
_MANAGERS = (Role.SUPERVISOR, Role.ADMIN)
RULE_PANEL = "delegations are between people, who answer for what they sign and complete"


async def delegate(
    db: Database, user: User, body: DelegationRequest, now: datetime
) -> DelegationView:
    """Raises:
    Forbidden: the role is not the caller's own, or the caller is a panel device.
    Unprocessable: unknown delegate, a panel account as delegate, to oneself, or a window that
        is empty, ended, or longer than 90 days.
    """
    # A panel is a shared device: what it is given or gives, no one person answers for. (The
    # route's policy already keeps panels out; this holds for any other caller of the service.)
    if user.role == Role.PANEL:
        raise Forbidden(f"a panel device cannot delegate: {RULE_PANEL}")
    if body.role != user.role:
        raise Forbidden(f"you can only delegate your own role ({user.role.value})")
    if body.to_user == user.username:
        raise Unprocessable("to_user: cannot delegate to yourself")
    starts = body.starts_at or now
    if body.ends_at <= max(starts, now):
        raise Unprocessable("ends_at: must be after starts_at and in the future")
    if body.ends_at - starts > MAX_DELEGATION:
        raise Unprocessable("ends_at: a delegation lasts at most 90 days")
    delegation = Delegation(
        id=0,
        from_user=user.username,
        role=body.role.value,
        to_user=body.to_user,
        starts_at=starts,
        ends_at=body.ends_at,
        reason=body.reason,
        created_at=now,
    )

    def work(conn: Connection) -> DelegationView:
        delegate_row = users.get_user(conn, body.to_user)
        if delegate_row is None:
            raise Unprocessable(f"to_user: no user {body.to_user!r}")
        if delegate_row.role == Role.PANEL:
            raise Unprocessable(f"to_user: {body.to_user!r} is a panel device: {RULE_PANEL}")
        delegation.id = repository.insert_delegation(conn, delegation)
        audit.record(
            conn,
            now,
            actor=user_actor(user.username),
            action="delegation.created",
            object_type="delegation",
            object_id=delegation.id,
            run=None,
            after=DelegationView.of(delegation, now).model_dump(mode="json"),
            reason=body.reason,
        )
        return DelegationView.of(delegation, now)

    return await db.write(work)


async def revoke(
    db: Database, user: User, delegation_id: int, reason: str | None, now: datetime
) -> DelegationView:
    """The delegator, the delegate, a supervisor or an admin may end a delegation early."""

    def work(conn: Connection) -> DelegationView:
        d = repository.get_delegation(conn, delegation_id)
        mine = d is not None and user.username in (d.from_user, d.to_user)
        if d is None or not (mine or user.role in _MANAGERS):
            raise NotFound(f"no delegation {delegation_id}")
        if d.revoked_at is not None:
            raise Conflict("the delegation is already revoked")
        repository.revoke_delegation(conn, d.id, user.username, now)
        d.revoked_at, d.revoked_by = now, user.username
        audit.record(
            conn,
            now,
            actor=user_actor(user.username),
            action="delegation.revoked",
            object_type="delegation",
            object_id=d.id,
            run=None,
            before={"revoked": False},
            after={"revoked": True},
            reason=reason,
        )
        return DelegationView.of(d, now)

    return await db.write(work)


async def list_delegations(db: Database, user: User, now: datetime) -> list[DelegationView]:
    """Your delegations, given and received (supervisors and admins see all)."""
    username = None if user.role in _MANAGERS else user.username
    rows = await db.read(lambda cur: repository.delegations_of(cur, username))
    return [DelegationView.of(d, now) for d in rows]
