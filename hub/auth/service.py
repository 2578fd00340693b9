"""Auth rules: who is a valid user or agent, how passwords and tokens are checked and issued."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

from hub.audit import service as audit
from hub.audit.schemas import CLI_ACTOR, AuditEntry, user_actor
from hub.auth import repository
from hub.auth.credentials import (
    dummy_password_hash,
    hash_password,
    new_token,
    token_hash,
    verify_password,
)
from hub.auth.repository import UserRow
from hub.auth.schemas import LoginReply, Role, User
from hub.errors import Unauthorized
from hub.storage import Connection, Database
from protocols.wire import is_agent_id

MIN_PASSWORD_LENGTH = 8
_BAD_LOGIN = "invalid username or password"


def prepare_user(
    username: str, role: str, password: str, sites: Sequence[str], areas: Sequence[str]
) -> UserRow:
    """Validate a new user and hash the password (slow: do it outside any transaction).

    Raises:
        ValueError: unknown role, empty username, or a password shorter than 8 characters.
    """
    if not username or username != username.strip():
        raise ValueError("username must be non-empty without leading or trailing spaces")
    if role not in {r.value for r in Role}:
        raise ValueError(f"unknown role {role!r}; expected one of: {', '.join(Role)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return UserRow(username, role, list(sites), list(areas), hash_password(password))


def insert_new_user(conn: Connection, user: UserRow, now: datetime, actor: str = CLI_ACTOR) -> None:
    """Store a prepared user and audit it; run inside a transaction.

    Raises:
        ValueError: the name is taken.
    """
    if repository.user_exists(conn, user.username):
        raise ValueError(f"user {user.username!r} already exists")
    repository.insert_user(conn, user, now)
    # The password hash stays out of the audit: the log is readable by more people than users.
    after = {"username": user.username, "role": user.role, "sites": user.sites, "areas": user.areas}
    audit.record(
        conn,
        [
            AuditEntry(
                actor=actor,
                action="user.created",
                object_type="user",
                object_id=user.username,
                after=after,
            )
        ],
        now,
    )


def issue_agent_token(
    conn: Connection, agent_id: str, now: datetime, actor: str = CLI_ACTOR
) -> str:
    """Make a new token for ``agent_id`` (replacing its older one); only the hash is stored.

    Raises:
        ValueError: ``agent_id`` is not a valid wire agent id.
    """
    if not is_agent_id(agent_id):
        raise ValueError(f"invalid agent id {agent_id!r}: letters, digits, '.', '_', '-' only")
    token = new_token()
    replaced = repository.token_exists(conn, agent_id)
    repository.replace_agent_token(conn, agent_id, token_hash(token), now)
    # Neither the token nor its hash is audited: the record says only that one was issued.
    audit.record(
        conn,
        [
            AuditEntry(
                actor=actor,
                action="agent_token.created",
                object_type="agent",
                object_id=agent_id,
                before={"token": "present" if replaced else "none"},
                after={"token": "present"},
            )
        ],
        now,
    )
    return token


def _to_user(row: UserRow) -> User:
    return User(username=row.username, role=Role(row.role), sites=row.sites, areas=row.areas)


async def login(
    db: Database, username: str, password: str, ttl: timedelta, now: datetime
) -> LoginReply:
    """Open a session. Unknown user and wrong password fail alike, in message and in time."""
    row = await db.read(lambda cur: repository.get_user(cur, username))
    stored = row.password_hash if row else dummy_password_hash()
    # scrypt takes tens of milliseconds of CPU: keep it off the event loop.
    ok = await asyncio.to_thread(verify_password, password, stored)
    if row is None or not ok:
        # Failures are audited too (both kinds alike): repeated guessing shows in the log.
        failed = _login_entry("login.failed", username)
        await db.write(lambda conn: audit.record(conn, [failed], now))
        raise Unauthorized(_BAD_LOGIN)

    token = new_token()
    expires_at = now + ttl

    def store(conn: Connection) -> None:
        repository.delete_expired_sessions(conn, now)
        repository.insert_session(conn, token_hash(token), row.username, now, expires_at)
        audit.record(conn, [_login_entry("login.succeeded", row.username)], now)

    await db.write(store)
    return LoginReply(token=token, expires_at=expires_at)


def _login_entry(action: str, username: str) -> AuditEntry:
    return AuditEntry(
        actor=user_actor(username), action=action, object_type="user", object_id=username
    )


async def user_for_token(db: Database, token: str, now: datetime) -> User | None:
    digest = token_hash(token)
    row = await db.read(lambda cur: repository.session_user(cur, digest, now))
    return _to_user(row) if row else None


async def agent_for_token(db: Database, token: str) -> str | None:
    digest = token_hash(token)
    return await db.read(lambda cur: repository.token_agent(cur, digest))
