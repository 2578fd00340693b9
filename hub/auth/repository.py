"""SQL for users, sessions and agent tokens; each function takes a connection or a cursor."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from hub.storage import Connection


class UserRow(NamedTuple):
    username: str
    role: str
    sites: list[str]
    areas: list[str]
    password_hash: str


_USER_COLUMNS = "u.username, u.role, u.sites, u.areas, u.password_hash"


def _user(row: tuple[object, ...] | None) -> UserRow | None:
    if row is None:
        return None
    username, role, sites, areas, password_hash = row
    assert isinstance(username, str) and isinstance(role, str)
    assert isinstance(sites, list) and isinstance(areas, list)
    assert isinstance(password_hash, str)
    return UserRow(username, role, sites, areas, password_hash)


def user_exists(conn: Connection, username: str) -> bool:
    return conn.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone() is not None


def insert_user(conn: Connection, user: UserRow, created_at: datetime) -> None:
    conn.execute(
        "INSERT INTO users (username, role, sites, areas, password_hash, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [user.username, user.role, user.sites, user.areas, user.password_hash, created_at],
    )


def get_user(conn: Connection, username: str) -> UserRow | None:
    row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users u WHERE username = ?", [username])
    return _user(row.fetchone())


def insert_session(
    conn: Connection, token_hash: str, username: str, created_at: datetime, expires_at: datetime
) -> None:
    conn.execute(
        "INSERT INTO sessions (token_hash, username, created_at, expires_at) VALUES (?, ?, ?, ?)",
        [token_hash, username, created_at, expires_at],
    )


def delete_session(conn: Connection, token_hash: str) -> bool:
    """Revoke one session; False if there was none with this token."""
    row = conn.execute(
        "DELETE FROM sessions WHERE token_hash = ? RETURNING token_hash", [token_hash]
    ).fetchone()
    return row is not None


def delete_expired_sessions(conn: Connection, now: datetime) -> None:
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?", [now])


def session_user(conn: Connection, token_hash: str, now: datetime) -> UserRow | None:
    row = conn.execute(
        f"SELECT {_USER_COLUMNS} FROM sessions s JOIN users u ON u.username = s.username"
        " WHERE s.token_hash = ? AND s.expires_at > ?",
        [token_hash, now],
    )
    return _user(row.fetchone())


def replace_agent_token(
    conn: Connection, agent_id: str, token_hash: str, created_at: datetime
) -> None:
    conn.execute("DELETE FROM agent_tokens WHERE agent_id = ?", [agent_id])
    conn.execute(
        "INSERT INTO agent_tokens (agent_id, token_hash, created_at) VALUES (?, ?, ?)",
        [agent_id, token_hash, created_at],
    )


def token_agent(conn: Connection, token_hash: str) -> str | None:
    row = conn.execute(
        "SELECT agent_id FROM agent_tokens WHERE token_hash = ?", [token_hash]
    ).fetchone()
    return str(row[0]) if row else None


def token_exists(conn: Connection, agent_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM agent_tokens WHERE agent_id = ?", [agent_id]).fetchone()
    return row is not None


def get_pin_hash(conn: Connection, username: str) -> str | None:
    """The user's PIN hash; None if the user has no PIN (or does not exist)."""
    row = conn.execute("SELECT pin_hash FROM users WHERE username = ?", [username]).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def set_pin_hash(conn: Connection, username: str, pin_hash: str | None) -> bool:
    """Store (or with None, remove) the user's PIN hash; False if there is no such user."""
    row = conn.execute(
        "UPDATE users SET pin_hash = ? WHERE username = ? RETURNING username", [pin_hash, username]
    ).fetchone()
    return row is not None


def count_audited(conn: Connection, action: str, object_id: str, since: datetime) -> int:
    """Audit records of ``action`` on the user ``object_id`` since ``since`` (failed attempts to
    identify: the audit is where they are kept, so a lockout survives a restart)."""
    row = conn.execute(
        "SELECT count(*) FROM audit_log WHERE action = ? AND object_type = 'user'"
        " AND object_id = ? AND recorded_at >= ?",
        [action, object_id, since],
    ).fetchone()
    return int(row[0]) if row else 0
