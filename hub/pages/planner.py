"""The planner board's plan against actual: which plan entries make each line's current shift,
what its counter says, and the live stream that keeps an open board current.

Plans come from ``hub.plans`` (its repository, read as they are stored); a line's counter tag
from the hub config (``planner.lines``), since a planning system knows products and rates but
not the PLC tags of a line. Constraints are not here: the board reads them from
``GET /api/v1/constraints`` and its stream.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

from hub.auth.scope import Scope
from hub.config import PlannerConfig
from hub.deps import Clock
from hub.pages import chart, repository
from hub.pages.schemas import PlannerBoard, PlannerLine
from hub.plans import repository as plans
from hub.plans.schemas import PlanEntry, PlanFilters
from hub.storage import Connection, Database

SHIFT_BREAK = timedelta(hours=1)
"""Entries of one shift name this close together are one shift (the gap is a break)."""
PLAN_LOOKAROUND = timedelta(hours=24)
"""Entries read on either side of now to assemble a shift (no shift is longer)."""
MAX_ENTRIES = 5000
"""Entries read per board (every line in scope, over two days)."""
PLAN_CHECK_SECONDS = 1.0
"""How often a live board looks for a new plan upload (one cheap query)."""


def _same_shift(a: PlanEntry, b: PlanEntry) -> bool:
    return a.shift is not None and a.shift == b.shift and b.start - a.end <= SHIFT_BREAK


def current_shift(entries: Sequence[PlanEntry], now: datetime) -> list[PlanEntry]:
    """The entries of the shift in force at ``now`` on one line (entries in start order, none
    overlapping); empty when none is. ``now`` in a break between two entries of one shift is
    in that shift."""
    index = next((i for i, e in enumerate(entries) if e.start <= now < e.end), None)
    if index is None:
        index = next(
            (
                i
                for i in range(len(entries) - 1)
                if entries[i].end <= now < entries[i + 1].start
                and _same_shift(entries[i], entries[i + 1])
            ),
            None,
        )
    if index is None:
        return []
    first = last = index
    while first > 0 and _same_shift(entries[first - 1], entries[first]):
        first -= 1
    while last + 1 < len(entries) and _same_shift(entries[last], entries[last + 1]):
        last += 1
    return list(entries[first : last + 1])


def _chart_id(site: str, line: str) -> str:
    return "chart-" + re.sub(r"[^A-Za-z0-9_-]", "_", f"{site}-{line}")


def line_figures(
    shift: Sequence[PlanEntry],
    counter_tag: str | None,
    readings: Sequence[chart.Point],
    now: datetime,
) -> PlannerLine:
    """Plan against actual of one line's ``shift`` (from ``current_shift``)."""
    first = shift[0]
    figures = chart.plan_vs_actual(
        readings,
        plan=[chart.PlannedRun(e.start, e.end, e.planned_rate_per_hour) for e in shift],
        now=now,
    )
    counted = counter_tag is not None
    svg = chart.render_svg(
        figures,
        f"Line {first.line}, plan against actual",
        _chart_id(first.site, first.line),
        with_actual=counted,
    )
    return PlannerLine(
        site=first.site,
        area=next((e.area for e in shift if e.area is not None), None),
        line=first.line,
        shift=first.shift,
        start=figures.start,
        end=figures.end,
        entries=list(shift),
        counter_tag=counter_tag,
        planned_rate_per_hour=figures.planned_rate_per_hour,
        planned_total=figures.planned_total,
        planned_by_now=figures.planned_by_now,
        produced=figures.produced if counted else None,
        rate_per_hour=figures.rate_per_hour if counted else None,
        projected_total=figures.projected_total if counted else None,
        shortfall=figures.shortfall if counted else None,
        svg=svg,
    )


def _read_board(
    cur: Connection, config: PlannerConfig, scope: Scope, now: datetime
) -> tuple[int, list[tuple[list[PlanEntry], str | None, list[chart.Point]]]]:
    version = repository.plans_version(cur)
    window = PlanFilters(since=now - PLAN_LOOKAROUND, until=now + PLAN_LOOKAROUND)
    by_line: dict[tuple[str, str], list[PlanEntry]] = {}
    for entry in plans.list_entries(cur, window, scope, None, MAX_ENTRIES):
        by_line.setdefault((entry.site, entry.line), []).append(entry)
    counters = {(c.site, c.line): c.counter_tag for c in config.lines}
    lines = []
    for (site, line), entries in sorted(by_line.items()):
        shift = current_shift(entries, now)
        if not shift:
            continue
        tag = counters.get((site, line))
        readings = (
            repository.counter_readings(cur, scope, site, line, tag, shift[0].start, now)
            if tag is not None
            else []
        )
        lines.append((shift, tag, readings))
    return version, lines


async def board(db: Database, config: PlannerConfig, scope: Scope, now: datetime) -> PlannerBoard:
    """Plan against actual of every line in ``scope`` with a shift in force at ``now``."""
    version, lines = await db.read(lambda cur: _read_board(cur, config, scope, now))
    return PlannerBoard(
        as_of=now,
        lines=[line_figures(shift, tag, readings, now) for shift, tag, readings in lines],
        plans_version=version,
    )


async def board_events(
    db: Database, config: PlannerConfig, scope: Scope, clock: Clock, heartbeat: float
) -> AsyncIterator[str]:
    """SSE: ``event: ready``, then ``event: board`` (a ``PlannerBoard``) at once and whenever
    the board changes: a new plan upload (looked for every ``PLAN_CHECK_SECONDS``), or new
    figures at each ``config.refresh_seconds``; ``event: decisions`` (no data) when a task or
    an approval opened or closed, for the page to re-read them. A comment line after
    ``heartbeat`` seconds without an event keeps the connection open."""
    yield "retry: 3000\nevent: ready\ndata: {}\n\n"
    tick = min(PLAN_CHECK_SECONDS, heartbeat)
    version: int | None = None
    decisions = await db.read(repository.decisions_version)
    sent_lines: str | None = None
    refresh_at = last_write = time.monotonic()
    while True:
        moved = await db.read(repository.decisions_version)
        if moved != decisions:
            decisions, last_write = moved, time.monotonic()
            yield "event: decisions\ndata: {}\n\n"
        current = await db.read(repository.plans_version)
        if current != version or time.monotonic() >= refresh_at:
            latest = await board(db, config, scope, clock())
            version, refresh_at = latest.plans_version, time.monotonic() + config.refresh_seconds
            lines = "[" + ",".join(line.model_dump_json() for line in latest.lines) + "]"
            # An unchanged board is not sent again (only its as_of would differ).
            if lines != sent_lines:
                sent_lines, last_write = lines, time.monotonic()
                yield f"event: board\ndata: {latest.model_dump_json()}\n\n"
        if time.monotonic() - last_write >= heartbeat:
            last_write = time.monotonic()
            yield ": heartbeat\n\n"
        await asyncio.sleep(tick)
