"""Who may act for whom right now: a user's open delegations and their delegators' scopes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hub.auth import repository as users
from hub.auth.schemas import User
from hub.auth.scope import Scope
from hub.governance import repository
from hub.governance.assignees import chain_allows, entry_allows
from hub.governance.records import Chain, Delegation
from hub.playbooks.model import Assignee
from hub.storage import Connection


@dataclass(frozen=True)
class Authority:
    user: User
    now: datetime
    delegations: list[Delegation] = field(default_factory=list)
    delegator_scopes: dict[str, Scope] = field(default_factory=dict)

    def entry(self, entry: Assignee, site: str | None, area: str | None) -> str | None:
        return entry_allows(
            entry, self.user, site, area, self.delegations, self.delegator_scopes, self.now
        )

    def chain(self, chain: Chain, level: int, site: str | None, area: str | None) -> str | None:
        return chain_allows(
            chain, level, self.user, site, area, self.delegations, self.delegator_scopes, self.now
        )


def load(conn: Connection, user: User, now: datetime) -> Authority:
    delegations = repository.delegations_to(conn, user.username, now)
    scopes: dict[str, Scope] = {}
    for d in delegations:
        row = users.get_user(conn, d.from_user)
        if row is not None:
            scopes[d.from_user] = Scope(sites=tuple(row.sites), areas=tuple(row.areas))
    return Authority(user, now, delegations, scopes)
