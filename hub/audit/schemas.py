"""Audit shapes: what a service records, what the API lists, what verify answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from hub.auth.schemas import User

SYSTEM_ACTOR = "system"
"""Changes the hub makes on its own (timers)."""
CLI_ACTOR = "cli"
"""Offline administration on the hub host (whoever can open the database file)."""


def user_actor(username: str) -> str:
    return f"user:{username}"


def agent_actor(agent_id: str) -> str:
    return f"agent:{agent_id}"


def panel_actor(agent_id: str, by: str) -> str:
    """A person at an agent's panel: the hub knows them only through that agent's word."""
    return f"panel:{agent_id}:{by}"


def actor_of(user: User) -> str:
    return user_actor(user.username)


@dataclass(frozen=True)
class AuditEntry:
    """One change to record, built by the service that makes the change.

    ``before``/``after``/``data`` must be JSON values (they are hashed in canonical JSON).
    ``site``/``area`` locate the object, so scoped users see only their part of the audit.
    """

    actor: str
    action: str
    object_type: str
    object_id: str
    before: Any = None
    after: Any = None
    reason: str | None = None
    data: Any = field(default=None)
    site: str | None = None
    area: str | None = None


class AuditRecord(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    site: str | None
    area: str | None
    before: Any
    after: Any
    reason: str | None
    data: Any
    prev_hash: str
    hash: str


class AuditFilters(BaseModel):
    object_type: str | None = None
    object_id: str | None = None
    actor: str | None = None
    since: datetime | None = None
    """Inclusive."""
    until: datetime | None = None
    """Exclusive."""


class VerifyReply(BaseModel):
    ok: bool
    records: int
    """How many records were checked and found good."""
    first_bad: int | None
    """The seq of the first record that breaks the chain."""
    reason: str | None
    head: str | None
    """Hash of the last good record: keep it outside the hub to anchor the chain."""
