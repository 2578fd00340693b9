"""SQL for events and for the runs of seqs stored per agent (the de-duplication index).

A batch goes in as one JSON text (``hub.storage.event_json``): DuckDB's ``executemany``
manages about 1,600 rows/s, lists bound per column about 30,000, the JSON text several times
that.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from hub.auth.scope import Scope
from hub.ingest.schemas import EventFilters, StoredEvent
from hub.ingest.seqs import Run, RunChange
from hub.storage import Connection
from hub.storage.event_json import Rows, journal_rows, rows_from_json
from protocols.wire import Category, EventType, Quality, Severity

_COLUMNS = (
    "event_id, agent_id, seq, type, tag, value, quality, source_time, agent_time, rule,"
    " severity, category, context, site, area, line"
)


def insert_events(conn: Connection, batches: Sequence[Rows]) -> None:
    """Insert the events of ``batches`` (of a group, in one statement), all or those flagged.

    The caller has checked that none of them is stored already (``hub.ingest.seqs``).
    """
    source, params = rows_from_json(batches)
    conn.execute(
        f"INSERT INTO events ({_COLUMNS}, received_at)"
        f" SELECT {_COLUMNS}, received_at FROM {source}",
        params,
    )


STAGED = "journal_staged"
"""The temporary table ``stage_segment`` fills (dropped by ``unstage``)."""


def stage_segment(conn: Connection, path: str, max_line_bytes: int) -> None:
    """Read a journal segment's kept events into the temporary table ``STAGED`` (read once,
    used by the events insert and the live values update alike)."""
    rows = journal_rows(path, max_line_bytes)
    conn.execute(f"CREATE TEMP TABLE {STAGED} AS SELECT * FROM {rows}")


def check_lines(conn: Connection, path: str, max_line_bytes: int) -> None:
    """Read every column of a journal file (raises ``duckdb.Error`` if a line cannot be read;
    a count alone would not, DuckDB skips the columns it does not need)."""
    conn.execute(f"SELECT * FROM {journal_rows(path, max_line_bytes)}").fetchall()


def insert_staged(conn: Connection) -> None:
    conn.execute(
        f"INSERT INTO events ({_COLUMNS}, received_at) SELECT {_COLUMNS}, received_at FROM {STAGED}"
    )


def staged_runs(conn: Connection) -> dict[str, list[Run]]:
    """The runs of consecutive seqs among the staged events, per agent (gaps and islands)."""
    return _runs_by_agent(
        conn,
        "SELECT agent_id, min(seq), max(seq) FROM (SELECT agent_id, seq,"
        f" seq - row_number() OVER (PARTITION BY agent_id ORDER BY seq) AS run FROM {STAGED})"
        " GROUP BY agent_id, run ORDER BY agent_id, 2",
    )


def unstage(conn: Connection) -> None:
    conn.execute(f"DROP TABLE {STAGED}")


def loaded_segment(conn: Connection) -> int:
    """The id of the last journal segment loaded (0: none yet)."""
    row = conn.execute("SELECT loaded_segment FROM ingest_journal").fetchone()
    return int(row[0]) if row else 0


def set_loaded_segment(conn: Connection, segment_id: int) -> None:
    conn.execute("UPDATE ingest_journal SET loaded_segment = ?", [segment_id])


def load_seq_runs(conn: Connection) -> dict[str, list[Run]]:
    return _runs_by_agent(
        conn,
        "SELECT agent_id, first_seq, last_seq FROM event_seq_ranges ORDER BY agent_id, first_seq",
    )


def _runs_by_agent(conn: Connection, sql: str) -> dict[str, list[Run]]:
    """Rows of (agent_id, first, last), in order, grouped per agent."""
    runs: dict[str, list[Run]] = {}
    for agent_id, first, last in conn.execute(sql).fetchall():
        runs.setdefault(agent_id, []).append((first, last))
    return runs


def save_seq_runs(conn: Connection, changes: Sequence[RunChange]) -> None:
    """Replace the runs each change removes by the ones it adds.

    A run that keeps its first seq is updated in place: the usual change, a run growing at its
    end, is then one small statement.
    """
    for change in changes:
        firsts = {run[0] for run in change.added}
        for first, _ in change.removed:
            if first not in firsts:
                conn.execute(
                    "DELETE FROM event_seq_ranges WHERE agent_id = ? AND first_seq = ?",
                    [change.agent_id, first],
                )
        kept = {run[0] for run in change.removed}
        for first, last in change.added:
            if first in kept:
                conn.execute(
                    "UPDATE event_seq_ranges SET last_seq = ? WHERE agent_id = ? AND first_seq = ?",
                    [last, change.agent_id, first],
                )
            else:
                conn.execute(
                    "INSERT INTO event_seq_ranges (agent_id, first_seq, last_seq) VALUES (?, ?, ?)",
                    [change.agent_id, first, last],
                )


def list_events(
    conn: Connection,
    *,
    filters: EventFilters,
    scope: Scope,
    after: tuple[str, int] | None,
    limit: int,
) -> list[StoredEvent]:
    """Events in (agent_id, seq) order within ``scope``, starting after the key ``after``."""
    scope_sql, params = scope.sql()
    where = [scope_sql]
    for column in ("agent_id", "type", "tag"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"{column} = ${column}")
            params[column] = value
    if filters.since is not None:
        where.append("source_time >= $since")
        params["since"] = filters.since
    if filters.until is not None:
        where.append("source_time < $until")
        params["until"] = filters.until
    if after is not None:
        where.append("(agent_id > $after_agent OR (agent_id = $after_agent AND seq > $after_seq))")
        params["after_agent"], params["after_seq"] = after
    params["limit"] = limit
    sql = (
        "SELECT event_id, agent_id, seq, type, tag, value, quality, source_time, agent_time,"
        " received_at, rule, severity, category, context FROM events"
        f" WHERE {' AND '.join(where)} ORDER BY agent_id, seq LIMIT $limit"
    )
    rows = conn.execute(sql, params).fetchall()
    # Stored rows were validated on the way in: model_construct skips a second validation.
    return [
        StoredEvent.model_construct(
            event_id=row[0],
            agent_id=row[1],
            seq=row[2],
            type=EventType(row[3]),
            tag=row[4],
            value=json.loads(row[5]) if row[5] is not None else None,
            quality=Quality(row[6]),
            source_time=row[7],
            agent_time=row[8],
            received_at=row[9],
            rule=row[10],
            severity=Severity(row[11]) if row[11] is not None else None,
            category=Category(row[12]) if row[12] is not None else None,
            context=json.loads(row[13]),
        )
        for row in rows
    ]
