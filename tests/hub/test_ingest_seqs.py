"""The index of stored seqs (de-duplication without a key on events): tables, then a model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.ingest.seqs import Run, SeqIndex, runs_of


@pytest.mark.parametrize(
    ("seqs", "runs"),
    [
        ([], []),
        ([3], [(3, 3)]),
        ([1, 2, 3], [(1, 3)]),
        ([5, 1, 2, 9, 3, 10], [(1, 3), (5, 5), (9, 10)]),
        ([2, 2, 1], [(1, 2)]),
    ],
)
def test_runs_of(seqs: list[int], runs: list[Run]) -> None:
    assert runs_of(seqs) == runs


@pytest.mark.parametrize(
    ("held", "new", "removed", "added", "after"),
    [
        # The usual batch: the agent's run grows at its end.
        ([(1, 100)], [101, 102], [(1, 100)], [(1, 102)], [(1, 102)]),
        # The first batch of an agent.
        ([], [1, 2, 3], [], [(1, 3)], [(1, 3)]),
        # Urgent events sent ahead leave a gap; the late ones close it.
        ([(1, 10), (15, 20)], [11, 12, 13, 14], [(1, 10), (15, 20)], [(1, 20)], [(1, 20)]),
        # A gap the agent never fills (it dropped those events) stays.
        ([(1, 10)], [20, 21], [], [(20, 21)], [(1, 10), (20, 21)]),
        # Below every run, not touching it.
        ([(10, 20)], [1, 2], [], [(1, 2)], [(1, 2), (10, 20)]),
        # Runs far from the new seqs are not part of the change.
        ([(1, 5), (10, 20), (30, 40)], [21], [(10, 20)], [(10, 21)], [(1, 5), (10, 21), (30, 40)]),
    ],
)
def test_plan_touches_only_the_runs_it_merges(
    held: list[Run], new: list[int], removed: list[Run], added: list[Run], after: list[Run]
) -> None:
    index = SeqIndex({"a": held})
    change = index.plan("a", new)
    assert change is not None
    assert (list(change.removed), list(change.added)) == (removed, added)
    assert index.runs("a") == held  # nothing changes before apply (the commit)
    index.apply([change])
    assert index.runs("a") == after


def test_stored_answers_per_agent() -> None:
    index = SeqIndex({"a": [(1, 10), (20, 30)], "b": [(5, 5)]})
    assert index.stored("a", [1, 10, 11, 19, 20, 30, 31]) == {1, 10, 20, 30}
    assert index.stored("b", [4, 5, 6]) == {5}
    assert index.stored("c", [1, 2]) == set()
    assert index.plan("a", []) is None


def test_loaded_runs_are_merged_and_sorted() -> None:
    index = SeqIndex({"a": [(20, 30), (1, 10), (11, 12)]})
    assert index.runs("a") == [(1, 12), (20, 30)]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from("ab"), st.integers(1, 60)), max_size=25), max_size=12
    )
)
def test_index_matches_a_set_of_stored_ids(batches: list[list[tuple[str, int]]]) -> None:
    """Batches of (agent, seq), repeats and any order included, as the writer handles them:
    the index must call exactly the already-stored ones duplicates, and reloading its runs (a
    restart) must give the same index."""
    index = SeqIndex()
    stored: set[tuple[str, int]] = set()
    for batch in batches:
        claimed: dict[str, set[int]] = {}
        for agent in "ab":
            seqs = sorted({seq for a, seq in batch if a == agent})
            assert index.stored(agent, seqs) == {s for s in seqs if (agent, s) in stored}
            claimed[agent] = {s for s in seqs if (agent, s) not in stored}
        changes = [c for agent, new in claimed.items() if (c := index.plan(agent, new))]
        index.apply(changes)
        stored |= {(agent, seq) for agent, new in claimed.items() for seq in new}
        for agent in "ab":
            runs = index.runs(agent)
            assert runs == runs_of(seq for a, seq in stored if a == agent)
    reloaded = SeqIndex({agent: index.runs(agent) for agent in "ab"})
    for agent in "ab":
        assert reloaded.runs(agent) == index.runs(agent)
