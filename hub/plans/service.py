"""Plan rules: an upload is checked whole (rows, overlaps, scope) and stored in one commit with
its audit record and the plan commands for the agents of its lines.

An upload is authoritative for its window on each line it names: entries in force on that line
that overlap [its first start, its last end) are replaced (kept, with ``replaced_by``).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hub.audit import service as audit
from hub.audit.schemas import AuditEntry
from hub.auth.scope import Scope
from hub.errors import Forbidden, Unprocessable
from hub.paging import Page, decode_cursor, encode_cursor
from hub.plans import repository, sync
from hub.plans.schemas import PlanEntry, PlanEntryIn, PlanFilters, PlanUpload, PlanUploadReply
from hub.storage import Connection, Database
from hub.webhooks import service as webhooks

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _where(fmt: str, index: int, rows: list[int] | None) -> str:
    if rows is not None:
        return f"line {rows[index]}"
    return f"entries[{index}]"


def check_overlaps(upload: PlanUpload, fmt: str, rows: list[int] | None = None) -> None:
    """Two entries of one line must not overlap (the agent refuses such a plan whole)."""
    by_line: dict[tuple[str, str], list[tuple[int, PlanEntryIn]]] = {}
    for index, entry in enumerate(upload.entries):
        by_line.setdefault((entry.site, entry.line), []).append((index, entry))
    problems = []
    for (site, line), members in by_line.items():
        members.sort(key=lambda m: m[1].start)
        for (i, a), (j, b) in itertools.pairwise(members):
            if b.start < a.end:
                problems.append(
                    f"{_where(fmt, j, rows)} overlaps {_where(fmt, i, rows)} on {site}/{line}"
                    f" ({b.start.isoformat()} < {a.end.isoformat()})"
                )
    if problems:
        raise Unprocessable("upload refused, nothing stored: " + "; ".join(problems[:20]))


async def upload(
    db: Database,
    plan: PlanUpload,
    fmt: str,
    scope: Scope,
    actor: str,
    now: datetime,
    rows: list[int] | None = None,
) -> PlanUploadReply:
    """Store ``plan`` (already row-checked) and queue plan commands for the agents concerned.

    Raises:
        Unprocessable: two entries of one line overlap.
        Forbidden: an entry's site or area is outside the caller's scope.
    """
    check_overlaps(plan, fmt, rows)

    def work(conn: Connection) -> PlanUploadReply:
        areas = repository.line_areas(conn)
        located: list[tuple[PlanEntryIn, str | None]] = []
        for index, entry in enumerate(plan.entries):
            area = entry.area
            if area is None:
                known = areas.get((entry.site, entry.line), set())
                area = next(iter(known)) if len(known) == 1 else None
            if not scope.allows(entry.site, area):
                raise Forbidden(
                    f"{_where(fmt, index, rows)}: {entry.site}/{area or '(no area)'} is outside"
                    " your scope; upload refused, nothing stored"
                )
            located.append((entry, area))
        upload_id = repository.insert_upload(conn, actor, now, fmt, plan.source, len(located))
        windows: dict[tuple[str, str], tuple[datetime, datetime]] = {}
        for entry, _ in located:
            key = (entry.site, entry.line)
            start, end = windows.get(key, (entry.start, entry.end))
            windows[key] = (min(start, entry.start), max(end, entry.end))
        replaced = sum(
            repository.replace_window(conn, upload_id, site, line, start, end)
            for (site, line), (start, end) in windows.items()
        )
        repository.insert_entries(conn, upload_id, located)
        lines = sorted(f"{site}/{line}" for site, line in windows)
        sites = {entry.site for entry, _ in located}
        areas_of = {area for _, area in located}
        summary = {
            "upload_id": upload_id,
            "format": fmt,
            "source": plan.source,
            "entries": len(located),
            "replaced": replaced,
            "lines": lines,
            "windows": {
                f"{s}/{ln}": [a.isoformat(), b.isoformat()] for (s, ln), (a, b) in windows.items()
            },
        }
        audit.record(
            conn,
            [
                AuditEntry(
                    actor=actor,
                    action="plan.uploaded",
                    object_type="plan_upload",
                    object_id=str(upload_id),
                    after=summary,
                    site=next(iter(sites)) if len(sites) == 1 else None,
                    area=next(iter(areas_of)) if len(areas_of) == 1 else None,
                )
            ],
            now,
        )
        webhooks.enqueue(
            conn,
            "plan.uploaded",
            summary,
            now,
            site=next(iter(sites)) if len(sites) == 1 else None,
            area=next(iter(areas_of)) if len(areas_of) == 1 else None,
        )
        queued = sync.sync_agents(conn, now)
        return PlanUploadReply(
            upload_id=upload_id,
            entries=len(located),
            replaced=replaced,
            lines=lines,
            commands=queued,
        )

    return await db.write(work)


async def list_entries(
    db: Database, filters: PlanFilters, scope: Scope, after: str | None, limit: int
) -> Page[PlanEntry]:
    key: tuple[datetime, int] | None = None
    if after is not None:
        micros, entry_id = decode_cursor(after, (int, int))
        assert isinstance(micros, int) and isinstance(entry_id, int)
        key = (_EPOCH + timedelta(microseconds=micros), entry_id)
    rows = await db.read(lambda cur: repository.list_entries(cur, filters, scope, key, limit + 1))
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor([(last.start - _EPOCH) // timedelta(microseconds=1), last.id])
    return Page[PlanEntry](items=items, next=next_cursor)
