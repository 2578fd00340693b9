"""SQL for quality holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.auth.scope import Scope
from hub.holds.schemas import Hold, HoldFilters, HoldItem
from hub.storage import Connection

_COLUMNS = (
    "id, lot, site, area, line, product, reason, placed_by, placed_at, expected_end,"
    " released_at, released_by, release_reason"
)


def _hold(row: Sequence[Any]) -> Hold:
    return Hold(
        id=row[0],
        lot=row[1],
        site=row[2],
        area=row[3],
        line=row[4],
        product=row[5],
        reason=row[6],
        placed_by=row[7],
        placed_at=row[8],
        expected_end=row[9],
        released_at=row[10],
        released_by=row[11],
        release_reason=row[12],
    )


def insert(conn: Connection, item: HoldItem, area: str | None, by: str, now: datetime) -> Hold:
    row = conn.execute(
        "INSERT INTO holds (lot, site, area, line, product, reason, placed_by, placed_at,"
        f" expected_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
        [
            item.lot,
            item.site,
            area,
            item.line,
            item.product,
            item.reason,
            by,
            now,
            item.expected_end,
        ],
    ).fetchone()
    assert row is not None
    return _hold(row)


def find_open(conn: Connection, lot: str, site: str | None, line: str | None) -> Hold | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM holds WHERE released_at IS NULL AND lot = ?"
        " AND site IS NOT DISTINCT FROM ? AND line IS NOT DISTINCT FROM ?",
        [lot, site, line],
    ).fetchone()
    return _hold(row) if row else None


def open_of_lot(conn: Connection, lot: str) -> list[Hold]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM holds WHERE released_at IS NULL AND lot = ? ORDER BY id", [lot]
    ).fetchall()
    return [_hold(r) for r in rows]


def release(
    conn: Connection, ids: Sequence[int], by: str, reason: str, now: datetime
) -> list[Hold]:
    if not ids:
        return []
    rows = conn.execute(
        "UPDATE holds SET released_at = ?, released_by = ?, release_reason = ?"
        f" WHERE list_contains(?::BIGINT[], id) AND released_at IS NULL RETURNING {_COLUMNS}",
        [now, by, reason, list(ids)],
    ).fetchall()
    return [_hold(r) for r in rows]


def open_holds(conn: Connection) -> list[Hold]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM holds WHERE released_at IS NULL ORDER BY id"
    ).fetchall()
    return [_hold(r) for r in rows]


def lots_for(conn: Connection, site: str | None, lines: Sequence[str]) -> list[str]:
    """The lots on hold for an agent at ``site`` running ``lines``: holds of its site (or of
    every site) on one of its lines (or on every line), whoever placed them (a person through
    ``POST /holds`` or a playbook's hold action)."""
    rows = conn.execute(
        "SELECT DISTINCT lot FROM holds WHERE released_at IS NULL"
        " AND (site IS NULL OR site IS NOT DISTINCT FROM $site)"
        " AND (line IS NULL OR list_contains($lines::VARCHAR[], line))",
        {"site": site, "lines": list(lines)},
    ).fetchall()
    return sorted(str(r[0]) for r in rows)


def list_holds(conn: Connection, filters: HoldFilters, scope: Scope) -> list[Hold]:
    scope_sql, params = scope.sql()
    where = [scope_sql]
    if not filters.include_released:
        where.append("released_at IS NULL")
    for column in ("lot", "site", "line"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"{column} = ${column}")
            params[column] = value
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM holds WHERE {' AND '.join(where)} ORDER BY placed_at DESC, id DESC"
        " LIMIT 5000",
        params,
    ).fetchall()
    return [_hold(r) for r in rows]
