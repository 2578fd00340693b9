"""Versioned schema: an ordered list of migrations, applied once each, recorded in schema_version.

Append new migrations at the end; never edit one that has shipped (databases in the field already
recorded it as applied).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import duckdb

logger = logging.getLogger(__name__)

_INITIAL = """
CREATE TABLE events (
    event_id    VARCHAR PRIMARY KEY,
    agent_id    VARCHAR NOT NULL,
    seq         BIGINT NOT NULL,
    type        VARCHAR NOT NULL,
    tag         VARCHAR,
    value       JSON,
    quality     VARCHAR NOT NULL,
    source_time TIMESTAMPTZ NOT NULL,
    agent_time  TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    rule        VARCHAR,
    severity    VARCHAR,
    category    VARCHAR,
    context     JSON NOT NULL
);

CREATE TABLE alarms (
    id            VARCHAR PRIMARY KEY,
    agent_id      VARCHAR NOT NULL,
    tag           VARCHAR,
    rule          VARCHAR,
    severity      VARCHAR,
    category      VARCHAR,
    value         JSON,
    state         VARCHAR NOT NULL CHECK (state IN ('active', 'returned')),
    raised_at     TIMESTAMPTZ NOT NULL,
    cleared_at    TIMESTAMPTZ,
    cleared_value JSON,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    username      VARCHAR PRIMARY KEY,
    role          VARCHAR NOT NULL,
    sites         VARCHAR[] NOT NULL,
    areas         VARCHAR[] NOT NULL,
    password_hash VARCHAR NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

-- Only the sha256 of a token is stored: a copy of the database does not hand out sessions.
CREATE TABLE sessions (
    token_hash VARCHAR PRIMARY KEY,
    username   VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE agent_tokens (
    agent_id   VARCHAR PRIMARY KEY,
    token_hash VARCHAR NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);
"""

MIGRATIONS: tuple[str, ...] = (_INITIAL,)
"""Migration ``i`` (0-based) brings the schema to version ``i + 1``."""


class SchemaError(RuntimeError):
    """The database cannot be used by this hub (e.g. written by a newer version)."""


def schema_version(conn: duckdb.DuckDBPyConnection) -> int:
    """The highest applied migration, 0 for a new database."""
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: duckdb.DuckDBPyConnection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Apply the pending migrations in order, each in its own transaction; return the version.

    Idempotent: a database already at the latest version is left unchanged. A failing migration
    is rolled back whole and raised, so the recorded version always matches the schema.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    current = schema_version(conn)
    if current > len(migrations):
        raise SchemaError(
            f"database schema version {current} is newer than this hub knows "
            f"({len(migrations)}); upgrade the hub"
        )
    for version, sql in enumerate(migrations[current:], start=current + 1):
        conn.begin()
        try:
            conn.execute(sql)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", [version])
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        logger.info("database schema migrated to version %d", version)
    return len(migrations)
