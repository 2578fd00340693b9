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
_GOVERNANCE = """
-- The signer's printed name for e-signatures (21 CFR Part 11); null until set by an admin.
ALTER TABLE users ADD COLUMN full_name VARCHAR;

CREATE SEQUENCE gov_run_ids START 1;
CREATE SEQUENCE gov_task_ids START 1;
CREATE SEQUENCE gov_approval_ids START 1;
CREATE SEQUENCE gov_signature_ids START 1;
CREATE SEQUENCE gov_timer_ids START 1;
CREATE SEQUENCE gov_delegation_ids START 1;
CREATE SEQUENCE gov_action_ids START 1;
CREATE SEQUENCE gov_constraint_ids START 1;

-- Every playbook text the hub has loaded, keyed by its sha256: runs execute the definition of
-- the version they were started under, so editing a file never changes work in flight.
CREATE TABLE playbook_versions (
    version     VARCHAR PRIMARY KEY,
    playbook_id VARCHAR NOT NULL,
    file        VARCHAR NOT NULL,
    content     VARCHAR NOT NULL,
    definition  VARCHAR NOT NULL,
    loaded_at   TIMESTAMPTZ NOT NULL
);

-- One run of a playbook: occurrence -> steps -> tasks / approvals -> actions -> outcome.
CREATE TABLE gov_runs (
    id                BIGINT PRIMARY KEY DEFAULT nextval('gov_run_ids'),
    playbook_id       VARCHAR NOT NULL,
    policy_version    VARCHAR NOT NULL,
    trigger           VARCHAR NOT NULL,
    alarm_id          BIGINT,
    agent_id          VARCHAR,
    rule              VARCHAR,
    tag               VARCHAR,
    severity          VARCHAR,
    category          VARCHAR,
    site              VARCHAR,
    area              VARCHAR,
    line              VARCHAR,
    requested_by      VARCHAR,
    reason            VARCHAR,
    context           VARCHAR NOT NULL,
    status            VARCHAR NOT NULL,
    recurrences       INTEGER NOT NULL DEFAULT 0,
    occurred_at       TIMESTAMPTZ NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    all_notified_at   TIMESTAMPTZ,
    first_decision_at TIMESTAMPTZ,
    steps_done_at     TIMESTAMPTZ,
    resolved_at       TIMESTAMPTZ,
    resolved_by       VARCHAR,
    resolution_code   VARCHAR,
    resolution_note   VARCHAR
);

CREATE TABLE gov_steps (
    run_id      BIGINT NOT NULL,
    step_id     VARCHAR NOT NULL,
    parent      VARCHAR,
    kind        VARCHAR NOT NULL,
    required    BOOLEAN NOT NULL,
    status      VARCHAR NOT NULL,
    outcome     VARCHAR,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    PRIMARY KEY (run_id, step_id)
);

-- Work items. ``assignees`` is the JSON escalation chain: level 0 first; people on levels up
-- to ``escalation_level`` may act.
CREATE TABLE gov_tasks (
    id               BIGINT PRIMARY KEY DEFAULT nextval('gov_task_ids'),
    run_id           BIGINT NOT NULL,
    step_id          VARCHAR NOT NULL,
    title            VARCHAR NOT NULL,
    instructions     VARCHAR,
    required         BOOLEAN NOT NULL,
    assignees        VARCHAR NOT NULL,
    escalation_level INTEGER NOT NULL,
    site             VARCHAR,
    area             VARCHAR,
    line             VARCHAR,
    status           VARCHAR NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    due_at           TIMESTAMPTZ,
    reminded_at      TIMESTAMPTZ,
    escalated_at     TIMESTAMPTZ,
    overdue          BOOLEAN NOT NULL DEFAULT false,
    completed_at     TIMESTAMPTZ,
    completed_by     VARCHAR,
    note             VARCHAR
);

CREATE TABLE gov_approvals (
    id               BIGINT PRIMARY KEY DEFAULT nextval('gov_approval_ids'),
    run_id           BIGINT NOT NULL,
    step_id          VARCHAR NOT NULL,
    title            VARCHAR NOT NULL,
    meaning          VARCHAR NOT NULL,
    mode             VARCHAR NOT NULL,
    required         BOOLEAN NOT NULL,
    separation_of_duties BOOLEAN NOT NULL,
    slots            VARCHAR NOT NULL,
    assignees        VARCHAR NOT NULL,
    escalation_level INTEGER NOT NULL,
    requested_by     VARCHAR,
    default_decision VARCHAR,
    site             VARCHAR,
    area             VARCHAR,
    line             VARCHAR,
    status           VARCHAR NOT NULL,
    version          INTEGER NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    due_at           TIMESTAMPTZ,
    reminded_at      TIMESTAMPTZ,
    escalated_at     TIMESTAMPTZ,
    overdue          BOOLEAN NOT NULL DEFAULT false,
    decided_at       TIMESTAMPTZ,
    decision_source  VARCHAR,
    snapshot         VARCHAR NOT NULL
);

-- E-signatures: the record hashed (``record_hash``) and the audit record that carries it.
CREATE TABLE gov_signatures (
    id            BIGINT PRIMARY KEY DEFAULT nextval('gov_signature_ids'),
    approval_id   BIGINT NOT NULL,
    slot          INTEGER NOT NULL,
    username      VARCHAR NOT NULL,
    full_name     VARCHAR NOT NULL,
    decision      VARCHAR NOT NULL,
    meaning       VARCHAR NOT NULL,
    reason        VARCHAR NOT NULL,
    signed_at     TIMESTAMPTZ NOT NULL,
    via           VARCHAR NOT NULL,
    snapshot      VARCHAR NOT NULL,
    evidence_hash VARCHAR NOT NULL,
    record_hash   VARCHAR NOT NULL,
    audit_seq     BIGINT NOT NULL
);

-- SLA timers: claimed (fired_at set) in the transaction that applies their effect.
CREATE TABLE gov_timers (
    id           BIGINT PRIMARY KEY DEFAULT nextval('gov_timer_ids'),
    kind         VARCHAR NOT NULL,
    target_type  VARCHAR NOT NULL,
    target_id    BIGINT NOT NULL,
    level        INTEGER NOT NULL,
    due_at       TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    fired_at     TIMESTAMPTZ,
    cancelled_at TIMESTAMPTZ
);

CREATE TABLE gov_delegations (
    id         BIGINT PRIMARY KEY DEFAULT nextval('gov_delegation_ids'),
    from_user  VARCHAR NOT NULL,
    role       VARCHAR NOT NULL,
    to_user    VARCHAR NOT NULL,
    starts_at  TIMESTAMPTZ NOT NULL,
    ends_at    TIMESTAMPTZ NOT NULL,
    reason     VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    revoked_by VARCHAR
);

CREATE TABLE gov_actions (
    id          BIGINT PRIMARY KEY DEFAULT nextval('gov_action_ids'),
    run_id      BIGINT NOT NULL,
    approval_id BIGINT,
    step_id     VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,
    decision    VARCHAR,
    payload     VARCHAR NOT NULL,
    agent_id    VARCHAR,
    command_id  VARCHAR,
    status      VARCHAR NOT NULL,
    detail      VARCHAR,
    created_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);

-- Constraints posted by playbook steps (kept here until the feeds' constraint board takes them).
CREATE TABLE gov_constraints (
    id              BIGINT PRIMARY KEY DEFAULT nextval('gov_constraint_ids'),
    run_id          BIGINT NOT NULL,
    site            VARCHAR,
    area            VARCHAR,
    line            VARCHAR,
    equipment       VARCHAR,
    status          VARCHAR NOT NULL,
    capacity_impact DOUBLE,
    lot             VARCHAR,
    reason          VARCHAR NOT NULL,
    expected_end    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    ended_at        TIMESTAMPTZ
);

-- Lots held by playbook actions; the agents of the line get the union as their hold list.
CREATE TABLE gov_holds (
    lot       VARCHAR NOT NULL,
    site      VARCHAR,
    line      VARCHAR,
    run_id    BIGINT NOT NULL,
    reason    VARCHAR NOT NULL,
    placed_at TIMESTAMPTZ NOT NULL
);

-- How far the trigger scan has read alarm_transitions (ids rise in commit order: one writer).
CREATE TABLE gov_cursor (
    name     VARCHAR PRIMARY KEY,
    position BIGINT NOT NULL
);
-- Alarms raised before governance existed start no runs.
INSERT INTO gov_cursor (name, position)
SELECT 'alarm_raises', coalesce(max(id), 0) FROM alarm_transitions WHERE action = 'raised';
"""
_FEEDS = """
CREATE SEQUENCE plan_upload_ids START 1;
CREATE SEQUENCE plan_entry_ids START 1;
CREATE SEQUENCE hold_ids START 1;
CREATE SEQUENCE floor_constraint_ids START 1;
CREATE SEQUENCE constraint_change_ids START 1;
CREATE SEQUENCE webhook_subscription_ids START 1;
CREATE SEQUENCE webhook_delivery_ids START 1;
CREATE SEQUENCE webhook_attempt_ids START 1;
CREATE SEQUENCE recommendation_ids START 1;
CREATE SEQUENCE feed_event_ids START 1;

-- A plan upload replaces, line by line, the entries that overlap its window on that line
-- (``replaced_by`` names the upload that did); entries with no ``replaced_by`` are in force.
CREATE TABLE plan_uploads (
    id          BIGINT PRIMARY KEY DEFAULT nextval('plan_upload_ids'),
    uploaded_by VARCHAR NOT NULL,
    uploaded_at TIMESTAMPTZ NOT NULL,
    format      VARCHAR NOT NULL,
    source      VARCHAR,
    entries     INTEGER NOT NULL
);

CREATE TABLE plan_entries (
    id                    BIGINT PRIMARY KEY DEFAULT nextval('plan_entry_ids'),
    upload_id             BIGINT NOT NULL,
    site                  VARCHAR NOT NULL,
    area                  VARCHAR,
    line                  VARCHAR NOT NULL,
    product               VARCHAR NOT NULL,
    lot                   VARCHAR,
    planned_quantity      DOUBLE,
    planned_rate_per_hour DOUBLE NOT NULL,
    start_at              TIMESTAMPTZ NOT NULL,
    end_at                TIMESTAMPTZ NOT NULL,
    shift                 VARCHAR,
    replaced_by           BIGINT
);

-- Quality holds on lots; NULL site/line: every site/line. Open while released_at is NULL.
CREATE TABLE holds (
    id             BIGINT PRIMARY KEY DEFAULT nextval('hold_ids'),
    lot            VARCHAR NOT NULL,
    site           VARCHAR,
    area           VARCHAR,
    line           VARCHAR,
    product        VARCHAR,
    reason         VARCHAR NOT NULL,
    placed_by      VARCHAR NOT NULL,
    placed_at      TIMESTAMPTZ NOT NULL,
    expected_end   TIMESTAMPTZ,
    released_at    TIMESTAMPTZ,
    released_by    VARCHAR,
    release_reason VARCHAR
);

-- What each agent was last sent (a digest of its plan entries or hold list): the feeds pump
-- sends a new command only when the digest changes, and a newly seen agent gets both.
CREATE TABLE agent_feed_sync (
    agent_id   VARCHAR NOT NULL,
    kind       VARCHAR NOT NULL,
    digest     VARCHAR NOT NULL,
    command_id VARCHAR NOT NULL,
    sent_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (agent_id, kind)
);

-- Live floor constraints for planners (ISA-95: equipment available / reduced / unavailable,
-- lot held). ``source_key`` ties a derived constraint to what it is derived from.
CREATE TABLE floor_constraints (
    id                      BIGINT PRIMARY KEY DEFAULT nextval('floor_constraint_ids'),
    source                  VARCHAR NOT NULL,
    source_key              VARCHAR,
    run_id                  BIGINT,
    alarm_id                BIGINT,
    hold_id                 BIGINT,
    site                    VARCHAR,
    area                    VARCHAR,
    line                    VARCHAR,
    equipment               VARCHAR,
    status                  VARCHAR NOT NULL
        CHECK (status IN ('available', 'reduced', 'unavailable', 'lot_held')),
    capacity_impact_percent DOUBLE,
    lot                     VARCHAR,
    reason                  VARCHAR NOT NULL,
    expected_end            TIMESTAMPTZ,
    posted_by               VARCHAR NOT NULL,
    started_at              TIMESTAMPTZ NOT NULL,
    ended_at                TIMESTAMPTZ,
    end_reason              VARCHAR
);

-- Every change of a constraint, in commit order (one writer): the SSE ids, so a client that
-- reconnects with Last-Event-ID misses nothing.
CREATE TABLE constraint_changes (
    id            BIGINT PRIMARY KEY DEFAULT nextval('constraint_change_ids'),
    constraint_id BIGINT NOT NULL,
    change        VARCHAR NOT NULL,
    changed_at    TIMESTAMPTZ NOT NULL
);

-- Outbound webhooks. The secret signs each body (HMAC-SHA256); it is shown once, at creation.
CREATE TABLE webhook_subscriptions (
    id         BIGINT PRIMARY KEY DEFAULT nextval('webhook_subscription_ids'),
    name       VARCHAR NOT NULL,
    url        VARCHAR NOT NULL,
    secret     VARCHAR NOT NULL,
    events     VARCHAR[] NOT NULL,
    sites      VARCHAR[] NOT NULL,
    areas      VARCHAR[] NOT NULL,
    active     BOOLEAN NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- The durable queue: one row per event and subscriber, written in the transaction of the change.
CREATE TABLE webhook_deliveries (
    id              BIGINT PRIMARY KEY DEFAULT nextval('webhook_delivery_ids'),
    subscription_id BIGINT NOT NULL,
    event_id        VARCHAR NOT NULL,
    event           VARCHAR NOT NULL,
    site            VARCHAR,
    area            VARCHAR,
    body            VARCHAR NOT NULL,
    status          VARCHAR NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    last_status     INTEGER,
    last_error      VARCHAR
);

CREATE TABLE webhook_attempts (
    id           BIGINT PRIMARY KEY DEFAULT nextval('webhook_attempt_ids'),
    delivery_id  BIGINT NOT NULL,
    attempt      INTEGER NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL,
    status_code  INTEGER,
    error        VARCHAR,
    duration_ms  DOUBLE NOT NULL
);

-- Recommendations from planning systems, the ERP and copilots.
CREATE TABLE recommendations (
    id              BIGINT PRIMARY KEY DEFAULT nextval('recommendation_ids'),
    source_system   VARCHAR NOT NULL,
    external_id     VARCHAR,
    proposed_action VARCHAR NOT NULL,
    category        VARCHAR,
    severity        VARCHAR,
    site            VARCHAR,
    area            VARCHAR,
    line            VARCHAR,
    equipment       VARCHAR,
    lot             VARCHAR,
    rationale       VARCHAR NOT NULL,
    parameters      VARCHAR NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    submitted_by    VARCHAR NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL
);

-- Events of the feeds that playbooks may match (recommendation.received, ...), in commit order:
-- a consumer keeps its own cursor on ``id``.
CREATE TABLE feed_events (
    id         BIGINT PRIMARY KEY DEFAULT nextval('feed_event_ids'),
    type       VARCHAR NOT NULL,
    object_id  VARCHAR NOT NULL,
    site       VARCHAR,
    area       VARCHAR,
    line       VARCHAR,
    payload    VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- The latest position per (site, item, location) and commitment per (source, reference), with
-- the time the sender says the figure is from (``as_of``) and when the hub received it.
CREATE TABLE inventory_positions (
    source_system VARCHAR NOT NULL,
    site          VARCHAR NOT NULL,
    area          VARCHAR,
    item          VARCHAR NOT NULL,
    location      VARCHAR NOT NULL,
    quantity      DOUBLE NOT NULL,
    unit          VARCHAR NOT NULL,
    as_of         TIMESTAMPTZ NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site, item, location)
);

CREATE TABLE supply_commitments (
    source_system VARCHAR NOT NULL,
    reference     VARCHAR NOT NULL,
    supplier      VARCHAR NOT NULL,
    site          VARCHAR NOT NULL,
    area          VARCHAR,
    item          VARCHAR NOT NULL,
    quantity      DOUBLE NOT NULL,
    unit          VARCHAR NOT NULL,
    due_at        TIMESTAMPTZ NOT NULL,
    status        VARCHAR NOT NULL,
    as_of         TIMESTAMPTZ NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source_system, reference)
);
"""

_PERSONAL_PINS = """
-- A technician identifies at a shared HMI panel with a short PIN (scrypt-hashed like passwords),
-- so the audit names the person, not the panel. NULL: no PIN set (the password still works).
ALTER TABLE users ADD COLUMN pin_hash VARCHAR;
"""

_GOVERNANCE_USES_FEEDS = """
-- Governance now posts constraints to the feeds' board (floor_constraints) and holds lots through
-- the holds feed (holds), so planners and agents see one list. Rows kept in the old tables move
-- over: constraints keep their times, and each lot governance held becomes an open hold.
INSERT INTO floor_constraints (source, run_id, site, area, line, equipment, status,
    capacity_impact_percent, lot, reason, expected_end, posted_by, started_at, ended_at, end_reason)
SELECT 'playbook', run_id, site, area, line, coalesce(line, equipment), status, capacity_impact,
    lot, reason, expected_end, 'system', created_at, ended_at,
    CASE WHEN ended_at IS NOT NULL THEN 'run resolved' END
FROM gov_constraints ORDER BY id;
INSERT INTO constraint_changes (constraint_id, change, changed_at)
SELECT id, change, changed_at FROM (
    SELECT id, 'opened' AS change, started_at AS changed_at FROM floor_constraints
    WHERE source = 'playbook' AND run_id IS NOT NULL
    UNION ALL
    SELECT id, 'ended', ended_at FROM floor_constraints
    WHERE source = 'playbook' AND run_id IS NOT NULL AND ended_at IS NOT NULL
) WHERE id NOT IN (SELECT constraint_id FROM constraint_changes)
ORDER BY changed_at, id;
INSERT INTO holds (lot, site, area, line, reason, placed_by, placed_at)
SELECT g.lot, g.site, any_value(r.area), g.line, arg_min(g.reason, g.placed_at), 'system',
    min(g.placed_at)
FROM gov_holds g LEFT JOIN gov_runs r ON r.id = g.run_id
WHERE NOT EXISTS (
    SELECT 1 FROM holds h WHERE h.released_at IS NULL AND h.lot = g.lot
    AND h.site IS NOT DISTINCT FROM g.site AND h.line IS NOT DISTINCT FROM g.line
)
GROUP BY g.lot, g.site, g.line;
DROP TABLE gov_constraints;
DROP SEQUENCE gov_constraint_ids;
DROP TABLE gov_holds;

-- Recommendations now start playbook runs too; those received before this start none.
INSERT INTO gov_cursor (name, position)
SELECT 'feed_events', coalesce(max(id), 0) FROM feed_events;
"""

_EVENT_SEQ_RANGES = """
-- De-duplication leaves the events table (issue 5, ingest speed): a text primary key on
-- event_id cost most of an insert and an index entry per row held in memory. Event ids are
-- agent_id:seq with seqs never reused, so the seqs each agent has delivered are kept as runs
-- (first..last) here, written in the same transaction as the events they cover.
ALTER TABLE events RENAME TO events_keyed;
CREATE TABLE events (
    event_id    VARCHAR NOT NULL,
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
    context     JSON NOT NULL,
    site        VARCHAR,
    area        VARCHAR,
    line        VARCHAR
);
INSERT INTO events BY NAME SELECT * FROM events_keyed ORDER BY agent_id, seq;
DROP TABLE events_keyed;

CREATE TABLE event_seq_ranges (
    agent_id  VARCHAR NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq  BIGINT NOT NULL
);
-- Consecutive seqs share seq - row number: one group per run (gaps and islands).
INSERT INTO event_seq_ranges
SELECT agent_id, min(seq), max(seq)
FROM (SELECT agent_id, seq, seq - row_number() OVER (PARTITION BY agent_id ORDER BY seq) AS run
      FROM events)
GROUP BY agent_id, run;
"""

_INGEST_JOURNAL = """
-- The last journal segment loaded into events (hub/ingest/journal.py), set in the same
-- transaction as its rows: a segment is loaded once, even if the hub stops before deleting it.
CREATE TABLE ingest_journal (loaded_segment BIGINT NOT NULL);
INSERT INTO ingest_journal VALUES (0);
"""

MIGRATIONS: tuple[str, ...] = (
    _INITIAL,
    _AUDIT,
    _ALARM_LIFECYCLE,
    _LIVE_VALUES,
    _GOVERNANCE,
    _FEEDS,
    _PERSONAL_PINS,
    _GOVERNANCE_USES_FEEDS,
    _EVENT_SEQ_RANGES,
    _INGEST_JOURNAL,
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
