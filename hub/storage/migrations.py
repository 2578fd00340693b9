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

_AUDIT = """
-- Append-only: the hub has no statement that updates or deletes these rows. JSON fields are
-- VARCHAR holding the canonical text that was hashed (DuckDB's JSON type may re-serialise).
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    recorded_at TIMESTAMPTZ NOT NULL,
    actor       VARCHAR NOT NULL,
    action      VARCHAR NOT NULL,
    object_type VARCHAR NOT NULL,
    object_id   VARCHAR NOT NULL,
    site        VARCHAR,
    area        VARCHAR,
    before      VARCHAR NOT NULL,
    after       VARCHAR NOT NULL,
    reason      VARCHAR,
    data        VARCHAR NOT NULL,
    prev_hash   VARCHAR NOT NULL,
    hash        VARCHAR NOT NULL
);

-- The last record's seq and hash, moved in the same transaction as each append: a chain cut
-- short at the end no longer matches it.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash VARCHAR NOT NULL
);
"""

_ALARM_LIFECYCLE = """
-- Occurrences were keyed by the agent's occurrence id alone, so two agents could collide. They
-- are now keyed by (agent_id, occurrence) with a hub-assigned id for URLs.
ALTER TABLE alarms RENAME TO alarms_v1;

CREATE SEQUENCE alarm_ids START 1;
CREATE SEQUENCE alarm_transition_ids START 1;

-- One row per (agent, rule): shelving, suppression and out-of-service belong to the alarm
-- (ISA-18.2), so they also cover occurrences raised while they hold.
CREATE TABLE alarm_definitions (
    agent_id       VARCHAR NOT NULL,
    rule           VARCHAR NOT NULL,
    shelved_until  TIMESTAMPTZ,
    shelved_by     VARCHAR,
    shelve_reason  VARCHAR,
    suppressed     BOOLEAN NOT NULL DEFAULT false,
    out_of_service BOOLEAN NOT NULL DEFAULT false,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (agent_id, rule)
);

CREATE TABLE alarms (
    id            BIGINT PRIMARY KEY DEFAULT nextval('alarm_ids'),
    agent_id      VARCHAR NOT NULL,
    occurrence    VARCHAR NOT NULL,
    rule          VARCHAR NOT NULL,
    tag           VARCHAR,
    severity      VARCHAR,
    category      VARCHAR,
    site          VARCHAR,
    area          VARCHAR,
    line          VARCHAR,
    value         JSON,
    active        BOOLEAN NOT NULL,
    acknowledged  BOOLEAN NOT NULL,
    raised_at     TIMESTAMPTZ NOT NULL,
    cleared_at    TIMESTAMPTZ,
    cleared_value JSON,
    acked_at      TIMESTAMPTZ,
    acked_by      VARCHAR,
    ack_note      VARCHAR,
    ack_channel   VARCHAR,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (agent_id, occurrence)
);

INSERT INTO alarm_definitions (agent_id, rule, updated_at)
SELECT DISTINCT agent_id, coalesce(rule, tag, 'unnamed'), now() FROM alarms_v1;

INSERT INTO alarms (agent_id, occurrence, rule, tag, severity, category, value, active,
                    acknowledged, raised_at, cleared_at, cleared_value, updated_at)
SELECT agent_id, id, coalesce(rule, tag, 'unnamed'), tag, severity, category, value,
       state = 'active', false, raised_at, cleared_at, cleared_value, updated_at
FROM alarms_v1 ORDER BY raised_at, id;

DROP TABLE alarms_v1;

CREATE TABLE alarm_transitions (
    id       BIGINT PRIMARY KEY DEFAULT nextval('alarm_transition_ids'),
    alarm_id BIGINT NOT NULL,
    agent_id VARCHAR NOT NULL,
    rule     VARCHAR NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    action   VARCHAR NOT NULL,
    actor    VARCHAR NOT NULL,
    channel  VARCHAR NOT NULL,
    reason   VARCHAR,
    note     VARCHAR
);

-- Hub -> agent instructions, delivered on the agent's ingest replies until it reports a result.
CREATE TABLE commands (
    command_id VARCHAR PRIMARY KEY,
    agent_id   VARCHAR NOT NULL,
    kind       VARCHAR NOT NULL,
    payload    JSON NOT NULL,
    issued_at  TIMESTAMPTZ NOT NULL,
    status     VARCHAR NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    result_at  TIMESTAMPTZ,
    result     JSON
);
"""

_LIVE_VALUES = """
-- The newest value per (agent, tag), by source time: replayed old events do not overwrite it.
CREATE TABLE current_values (
    agent_id    VARCHAR NOT NULL,
    tag         VARCHAR NOT NULL,
    value       JSON,
    quality     VARCHAR NOT NULL,
    source_time TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    seq         BIGINT NOT NULL,
    site        VARCHAR,
    area        VARCHAR,
    line        VARCHAR,
    PRIMARY KEY (agent_id, tag)
);

-- Location of each event (from its context), so event reads can be scoped without JSON work.
ALTER TABLE events ADD COLUMN site VARCHAR;
ALTER TABLE events ADD COLUMN area VARCHAR;
ALTER TABLE events ADD COLUMN line VARCHAR;
UPDATE events SET site = context->>'site', area = context->>'area', line = context->>'line';
"""

# Playbooks, tasks, approvals, timers (issue 6, governance) and plans, holds, constraints,
# webhooks, external inputs (issue 6, feeds): reserved in this order while both are built.
_GOVERNANCE = "SELECT 1;"
_FEEDS = "SELECT 1;"

MIGRATIONS: tuple[str, ...] = (
    _INITIAL,
    _AUDIT,
    _ALARM_LIFECYCLE,
    _LIVE_VALUES,
    _GOVERNANCE,
    _FEEDS,
)
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
