"""Auth rules: who is a valid user or agent, how passwords and tokens are checked and issued."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
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
from hub.errors import HubError, Unauthorized, Unprocessable
from hub.storage import Connection, Database
from protocols.wire import is_agent_id

MIN_PASSWORD_LENGTH = 8
_BAD_LOGIN = "invalid username or password"


def prepare_user(
    username: str, role: str, password: str, sites: Sequence[str], areas: Sequence[str]
) -> UserRow:
    """Validate a new user and hash the password (slow: do it outside any transaction).

    Raises:
        ValueError: unknown role, empty username, a password shorter than 8 characters, or a
            panel without an area.
    """
    if not username or username != username.strip():
        raise ValueError("username must be non-empty without leading or trailing spaces")
    if role not in {r.value for r in Role}:
        raise ValueError(f"unknown role {role!r}; expected one of: {', '.join(Role)}")
    # A panel device unscoped in area would show (and act through) every area's alarms.
    if role == Role.PANEL and not areas:
        raise ValueError("a panel is the device of an area: give at least one area")
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


async def logout(db: Database, token: str, user: User, now: datetime) -> None:
    """End the session of ``token`` (the caller's own): the token stops working at once."""

    def revoke(conn: Connection) -> None:
        repository.delete_session(conn, token_hash(token))
        audit.record(conn, [_login_entry("logout", user.username)], now)

    await db.write(revoke)


async def user_for_token(db: Database, token: str, now: datetime) -> User | None:
    digest = token_hash(token)
    row = await db.read(lambda cur: repository.session_user(cur, digest, now))
    return _to_user(row) if row else None


class AgentTokens:
    """Agent token lookups, each known token read from the database once.

    Every ingest request presents its agent's token, and reading it cost a database round trip
    per batch. Agent tokens change only through ``floorgate token create``, which cannot open
    the database while a hub holds it, so a token a running hub has found stays valid for it
    (an API that replaced tokens would have to clear this). Unknown tokens are not
    remembered: a stream of bad ones grows nothing.
    """

    MAX_KNOWN = 10_000

    def __init__(self) -> None:
        self._known: dict[str, str] = {}
        """Token hash -> agent id."""

    async def agent_for(self, db: Database, token: str) -> str | None:
        digest = token_hash(token)
        agent_id = self._known.get(digest)
        if agent_id is None:
            agent_id = await db.read(lambda cur: repository.token_agent(cur, digest))
            if agent_id is not None:
                if len(self._known) >= self.MAX_KNOWN:
                    self._known.clear()
                self._known[digest] = agent_id
        return agent_id


# Personal PINs: a technician identifies at a shared panel (whose session is the panel's own).
MIN_PIN_LENGTH = 6
MAX_PIN_LENGTH = 12
IDENTIFY_MAX_FAILURES = 5
"""Failed identifications of one person within ``IDENTIFY_LOCKOUT`` before PINs are refused."""
IDENTIFY_LOCKOUT = timedelta(minutes=15)
_BAD_IDENTITY = "invalid user name, PIN or password"


class TooManyAttempts(HubError):
    """Too many failed identifications of one person: guessing a short PIN is stopped here."""

    status_code = 429
    description = "Too many failed attempts; wait before trying again"


def prepare_pin(pin: str) -> str:
    """Validate a PIN and hash it with the password scheme (slow: outside any transaction).

    Raises:
        ValueError: not 6 to 12 digits.
    """
    if not (pin.isascii() and pin.isdigit() and MIN_PIN_LENGTH <= len(pin) <= MAX_PIN_LENGTH):
        raise ValueError(f"a PIN is {MIN_PIN_LENGTH} to {MAX_PIN_LENGTH} digits")
    return hash_password(pin)


def store_pin(
    conn: Connection, username: str, pin_hash: str, now: datetime, actor: str = CLI_ACTOR
) -> None:
    """Set a user's PIN from ``prepare_pin`` output and audit it; run inside a transaction.

    Raises:
        ValueError: no such user, or the user is a panel device.
    """
    row = repository.get_user(conn, username)
    if row is not None and row.role == Role.PANEL:
        raise ValueError(f"{username!r} is a panel: people identify at it with their own PINs")
    had_pin = repository.get_pin_hash(conn, username) is not None
    if not repository.set_pin_hash(conn, username, pin_hash):
        raise ValueError(f"no user {username!r}")
    # Like passwords, neither the PIN nor its hash is audited.
    audit.record(
        conn,
        [
            AuditEntry(
                actor=actor,
                action="user.pin_set",
                object_type="user",
                object_id=username,
                before={"pin": "present" if had_pin else "none"},
                after={"pin": "present"},
            )
        ],
        now,
    )


async def set_own_pin(db: Database, user: User, password: str, pin: str, now: datetime) -> None:
    """A signed-in user sets their PIN, re-entering their password.

    Raises:
        Unauthorized: wrong password.
        Unprocessable: the PIN is not 6 to 12 digits.
    """
    row = await db.read(lambda cur: repository.get_user(cur, user.username))
    stored = row.password_hash if row else dummy_password_hash()
    if not await asyncio.to_thread(verify_password, password, stored):
        failed = _login_entry("pin_change.failed", user.username)
        await db.write(lambda conn: audit.record(conn, [failed], now))
        raise Unauthorized("invalid password")
    try:
        pin_hash = await asyncio.to_thread(prepare_pin, pin)
    except ValueError as exc:
        raise Unprocessable(f"pin: {exc}") from exc
    actor = user_actor(user.username)
    await db.write(lambda conn: store_pin(conn, user.username, pin_hash, now, actor))


@dataclass(frozen=True)
class Identified:
    """A person who identified at a shared panel, and the ``identity.verified`` audit entry to
    commit in the same transaction as what they do (so both are kept, or neither)."""

    user: User
    record: AuditEntry


async def verify_identity(
    db: Database,
    username: str,
    secret: str,
    *,
    at: str,
    purpose: str,
    subject: str | None = None,
    site: str | None = None,
    area: str | None = None,
    now: datetime,
) -> Identified:
    """The person who identifies with their PIN or password at a shared panel.

    Both the PIN and the password are checked (or dummies, for an unknown name or no PIN), so
    every failure takes the same time. A failure is audited at once (with the panel as actor:
    the lockout counts these records); a success is not written here but returned, with the
    person as actor and ``at`` (the panel's actor) in its data, for the caller to commit with
    the action it authorises.

    Args:
        at: the actor of the session the person identifies through (the panel device).
        purpose: what the identification is for, e.g. ``ack_alarm``.
        subject: the object it is for, e.g. ``alarm:12``.
        site, area: where the subject is (the records are scoped like it).

    Raises:
        TooManyAttempts: ``IDENTIFY_MAX_FAILURES`` failures for this name within
            ``IDENTIFY_LOCKOUT``.
        Unauthorized: unknown name, or neither the PIN nor the password matches.
    """

    def lookup(cur: Connection) -> tuple[UserRow | None, str | None, int]:
        failures = repository.count_audited(
            cur, "identity.failed", username, now - IDENTIFY_LOCKOUT
        )
        return repository.get_user(cur, username), repository.get_pin_hash(cur, username), failures

    row, pin_hash, failures = await db.read(lookup)
    if failures >= IDENTIFY_MAX_FAILURES:
        raise TooManyAttempts(
            f"too many failed attempts for {username!r}; try again later or ask a supervisor"
        )

    def check() -> bool:
        pin_ok = verify_password(secret, pin_hash or dummy_password_hash())
        password_ok = verify_password(secret, row.password_hash if row else dummy_password_hash())
        return row is not None and ((pin_ok and pin_hash is not None) or password_ok)

    ok = await asyncio.to_thread(check)
    entry = AuditEntry(
        actor=user_actor(username) if ok else at,
        action="identity.verified" if ok else "identity.failed",
        object_type="user",
        object_id=username,
        data={"at": at, "purpose": purpose, "subject": subject},
        site=site,
        area=area,
    )
    if not ok or row is None:
        await db.write(lambda conn: audit.record(conn, [entry], now))
        raise Unauthorized(_BAD_IDENTITY)
    return Identified(_to_user(row), entry)


def has_pin(conn: Connection, username: str) -> bool:
    return repository.get_pin_hash(conn, username) is not None
