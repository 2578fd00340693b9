"""The production plan and quality-hold list as detection rules see them.

Detectors ask two questions, on every reading of their tags and on every tick: which plan entry
is in force on a line at a moment, and whether a lot is on hold. Both must answer from memory
(no I/O per call): the agent's cache loads what the hub sends into memory and swaps it whole.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PlanEntry:
    """One planned run of a product on a line, in force from ``start`` (inclusive) to ``end``.

    Args:
        line: The line name, as rules give it in ``line``.
        product: What the line makes during the entry.
        start: Timezone-aware start, inclusive.
        end: Timezone-aware end, exclusive.
        planned_rate_per_hour: Planned good count per hour; 0 means a planned stop.
        lot: The lot the entry produces, if the plan knows it.
    """

    line: str
    product: str
    start: datetime
    end: datetime
    planned_rate_per_hour: float
    lot: str | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError(
                f"plan entry {self.line}/{self.product}: start and end need a timezone"
            )
        if self.end <= self.start:
            raise ValueError(f"plan entry {self.line}/{self.product}: end must be after start")
        if not self.planned_rate_per_hour >= 0:  # also refuses NaN
            raise ValueError(
                f"plan entry {self.line}/{self.product}: planned_rate_per_hour must be >= 0"
            )


class PlanBook(Protocol):
    """Read access to the cached plan and hold list; both calls answer from memory."""

    def current(self, line: str, at: datetime) -> PlanEntry | None:
        """The entry in force on ``line`` at ``at`` (``start <= at < end``), or None."""
        ...

    def on_hold(self, lot: str) -> bool:
        """Whether ``lot`` is on the quality-hold list."""
        ...


class MemoryPlanBook:
    """A plan book held in memory; replacing its plans or holds swaps the whole set at once.

    After a replacement, call ``tick(now)`` on the detectors so that rules re-evaluate at once
    rather than at the next tick.
    """

    def __init__(self, entries: Iterable[PlanEntry] = (), holds: Iterable[str] = ()) -> None:
        self._by_line: dict[str, list[PlanEntry]] = {}
        self._starts: dict[str, list[datetime]] = {}
        self._holds: frozenset[str] = frozenset()
        self.replace_plans(entries)
        self.replace_holds(holds)

    def replace_plans(self, entries: Iterable[PlanEntry]) -> None:
        """Use these entries from now on; overlapping entries on one line are refused whole.

        Raises:
            ValueError: Two entries of one line overlap (the book is left unchanged).
        """
        by_line: dict[str, list[PlanEntry]] = {}
        for entry in entries:
            by_line.setdefault(entry.line, []).append(entry)
        for line, line_entries in by_line.items():
            line_entries.sort(key=lambda e: e.start)
            for before, after in itertools.pairwise(line_entries):
                if after.start < before.end:
                    raise ValueError(
                        f"plan entries overlap on line {line!r}: {before.product} "
                        f"{before.start.isoformat()}..{before.end.isoformat()} and "
                        f"{after.product} from {after.start.isoformat()}"
                    )
        self._by_line = by_line
        self._starts = {line: [e.start for e in es] for line, es in by_line.items()}

    def replace_holds(self, lots: Iterable[str]) -> None:
        """Use this hold list from now on."""
        self._holds = frozenset(lots)

    def current(self, line: str, at: datetime) -> PlanEntry | None:
        starts = self._starts.get(line)
        if not starts:
            return None
        index = bisect.bisect_right(starts, at) - 1
        if index < 0:
            return None
        entry = self._by_line[line][index]
        return entry if at < entry.end else None

    def on_hold(self, lot: str) -> bool:
        return lot in self._holds
