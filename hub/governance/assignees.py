"""Pure: who may act on a task or sign an approval (assignee, delegate, escalation target)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from hub.auth.schemas import User
from hub.auth.scope import Scope
from hub.governance.records import Chain, Delegation
from hub.playbooks.model import Assignee

ASSIGNEE = "assignee"
DELEGATION = "delegation"
ESCALATION = "escalation"


def entry_allows(
    entry: Assignee,
    user: User,
    site: str | None,
    area: str | None,
    delegations: Sequence[Delegation],
    delegator_scopes: dict[str, Scope],
    now: datetime,
) -> str | None:
    """How ``user`` may act for ``entry``: ``assignee``, ``delegation``, or None if not at all.

    A role entry needs the role and the object's site and area in the user's scope; a person
    entry needs that person. A delegation of role R from A to B lets B act for entries of role R
    within A's scope, and for entries naming A, while its window is open.
    """
    if entry.user is not None and entry.user == user.username:
        return ASSIGNEE
    if entry.role is not None and entry.role == user.role and Scope.of(user).allows(site, area):
        return ASSIGNEE
    for d in delegations:
        if d.to_user != user.username or not d.active(now):
            continue
        if entry.user is not None and entry.user == d.from_user:
            return DELEGATION
        scope = delegator_scopes.get(d.from_user)
        if entry.role is not None and entry.role == d.role and scope and scope.allows(site, area):
            return DELEGATION
    return None


def chain_allows(
    chain: Chain,
    level: int,
    user: User,
    site: str | None,
    area: str | None,
    delegations: Sequence[Delegation],
    delegator_scopes: dict[str, Scope],
    now: datetime,
) -> str | None:
    """Like ``entry_allows`` over levels 0..``level`` of an escalation chain (levels above 0
    answer ``escalation``)."""
    for index, entries in enumerate(chain[: level + 1]):
        for entry in entries:
            how = entry_allows(entry, user, site, area, delegations, delegator_scopes, now)
            if how is not None:
                return how if index == 0 else ESCALATION
    return None


def labels(chain: Chain, level: int) -> list[str]:
    """``role:quality``, ``user:quinn``: who may act now."""
    return [entry.label() for entries in chain[: level + 1] for entry in entries]
