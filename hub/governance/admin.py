"""Offline administration for e-signatures: a signer's full name (printed with each signature).

For ``floorgate user add --full-name`` (and a later ``floorgate user set-name``); like
hub/admin.py it opens the database file directly, so no hub may hold it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from hub.audit.schemas import CLI_ACTOR
from hub.governance import audit, repository
from hub.storage import Connection, open_connection, run_in_transaction
from protocols.wire import utc_now


def store_full_name(
    conn: Connection, username: str, full_name: str, now: datetime, actor: str = CLI_ACTOR
) -> None:
    """Set the full name and audit it; run inside a transaction.

    Raises:
        ValueError: an empty name, or no such user.
    """
    name = full_name.strip()
    if not name:
        raise ValueError("the full name must not be empty")
    before = repository.full_name(conn, username)
    if not repository.set_full_name(conn, username, name):
        raise ValueError(f"no user {username!r}")
    audit.record(
        conn,
        now,
        actor=actor,
        action="user.full_name_set",
        object_type="user",
        object_id=username,
        run=None,
        before={"full_name": before},
        after={"full_name": name},
    )


def set_full_name(db_path: Path, username: str, full_name: str) -> None:
    """Raises ValueError as ``store_full_name``."""
    with open_connection(db_path) as conn:
        run_in_transaction(conn, lambda c: store_full_name(c, username, full_name, utc_now()))
