"""Pure: which seqs of each agent are stored, as sorted runs of consecutive seqs.

An event id is ``agent_id:seq`` (the wire model enforces it) and an agent numbers its events
1, 2, 3, ... without reuse, so the events an agent has delivered form a few long runs: a gap
appears only where the agent dropped events (a full buffer) or sent urgent ones ahead of older
ones, and the late ones usually close it. De-duplication asks this index instead of a text
primary key on ``events``: it answers in memory, stays a few pairs per agent however many events
are stored, and is saved as those pairs (table ``event_seq_ranges``) in the same transaction as
the events, so it survives a restart.

Changes are planned inside the write transaction (``plan``) and applied to the index only once
that transaction has committed (``apply``): a rolled-back batch leaves no trace here.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

Run = tuple[int, int]
"""First and last seq, inclusive."""


@dataclass
class _Runs:
    """One agent's runs: ``starts[i]..ends[i]``, sorted, disjoint and not adjacent."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)

    def holds(self, seq: int) -> bool:
        i = bisect_right(self.starts, seq) - 1
        return i >= 0 and self.ends[i] >= seq


@dataclass(frozen=True)
class RunChange:
    """Runs ``first..last`` (an index range) of one agent replaced by ``added``."""

    agent_id: str
    first: int
    last: int
    removed: tuple[Run, ...]
    added: tuple[Run, ...]


def runs_of(seqs: Iterable[int]) -> list[Run]:
    """Sorted, coalesced runs covering exactly ``seqs``."""
    runs: list[Run] = []
    for seq in sorted(set(seqs)):
        if runs and runs[-1][1] + 1 == seq:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs


class SeqIndex:
    """Args:
    runs: stored runs per agent, as loaded from ``event_seq_ranges`` (any order).
    """

    def __init__(self, runs: Mapping[str, Iterable[Run]] | None = None) -> None:
        self._agents: dict[str, _Runs] = {}
        for agent_id, agent_runs in (runs or {}).items():
            merged = _coalesce(sorted(agent_runs))
            self._agents[agent_id] = _Runs([r[0] for r in merged], [r[1] for r in merged])

    def runs(self, agent_id: str) -> list[Run]:
        held = self._agents.get(agent_id)
        return list(zip(held.starts, held.ends, strict=True)) if held else []

    def stored(self, agent_id: str, seqs: Sequence[int]) -> set[int]:
        """The members of ``seqs`` already stored for ``agent_id``."""
        held = self._agents.get(agent_id)
        if held is None or not held.ends:
            return set()
        # The usual batch: every seq above the agent's highest stored one; else mostly so (a
        # resent tail, then new seqs), and only the seqs up to that one need a search.
        top = held.ends[-1]
        if min(seqs, default=0) > top:
            return set()
        return {seq for seq in seqs if seq <= top and held.holds(seq)}

    def plan(self, agent_id: str, new_seqs: Iterable[int]) -> RunChange | None:
        """The change that adds ``new_seqs`` (none of them stored yet) to the agent's runs.

        Only the runs that touch the new ones are replaced, so a change stays small however
        many runs the agent has.
        """
        return self.plan_runs(agent_id, runs_of(new_seqs))

    def plan_runs(self, agent_id: str, new_runs: Sequence[Run]) -> RunChange | None:
        """``plan`` for new seqs given as sorted, disjoint runs (none of them stored yet)."""
        if not new_runs:
            return None
        held = self._agents.get(agent_id) or _Runs()
        low, high = new_runs[0][0], new_runs[-1][1]
        # Runs ending at low - 1 or later and starting at high + 1 or earlier may merge.
        first = bisect_left(held.ends, low - 1)
        last = bisect_right(held.starts, high + 1)
        removed = tuple(zip(held.starts[first:last], held.ends[first:last], strict=True))
        added = tuple(_coalesce(sorted([*removed, *new_runs])))
        return RunChange(agent_id, first, last, removed, added)

    def copy(self) -> SeqIndex:
        copied = SeqIndex()
        copied._agents = {
            agent_id: _Runs(list(runs.starts), list(runs.ends))
            for agent_id, runs in self._agents.items()
        }
        return copied

    def apply(self, changes: Iterable[RunChange]) -> None:
        """Record committed changes (in the order they were planned, one per agent)."""
        for change in changes:
            held = self._agents.setdefault(change.agent_id, _Runs())
            held.starts[change.first : change.last] = [run[0] for run in change.added]
            held.ends[change.first : change.last] = [run[1] for run in change.added]


def _coalesce(runs: Sequence[Run]) -> list[Run]:
    """Merge overlapping or adjacent runs of a sorted list."""
    merged: list[Run] = []
    for start, end in runs:
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
