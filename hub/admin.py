"""Offline administration: open the database file directly while no hub holds it.

DuckDB lets one process open a file for writing, so these refuse to run beside a live hub
(duckdb raises an IOException naming the lock).
"""

from __future__ import annotations

from pathlib import Path

from hub.auth import service
from hub.storage import open_connection, run_in_transaction
from protocols.wire import utc_now


def add_user(
    db_path: Path, username: str, role: str, password: str, sites: list[str], areas: list[str]
) -> None:
    """Create a user.

    Raises:
        ValueError: unknown role, password shorter than 8 characters, or the user exists.
    """
    user = service.prepare_user(username, role, password, sites, areas)
    with open_connection(db_path) as conn:
        run_in_transaction(conn, lambda c: service.insert_new_user(c, user, utc_now()))


def create_agent_token(db_path: Path, agent_id: str) -> str:
    """Issue a token for ``agent_id``, replacing its older one; shown now, never again."""
    with open_connection(db_path) as conn:
        return run_in_transaction(conn, lambda c: service.issue_agent_token(c, agent_id, utc_now()))


def set_pin(db_path: Path, username: str, pin: str) -> None:
    """Give a user the personal PIN they identify with at an HMI panel (6 to 12 digits).

    Raises:
        ValueError: not 6 to 12 digits, or no such user.
    """
    pin_hash = service.prepare_pin(pin)
    with open_connection(db_path) as conn:
        run_in_transaction(conn, lambda c: service.store_pin(c, username, pin_hash, utc_now()))
