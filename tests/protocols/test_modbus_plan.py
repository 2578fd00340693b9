"""Block planning tables: each row is spans in, (table, address, count, keys) per block out."""

from __future__ import annotations

import random

import pytest

from protocols.modbus_plan import Block, Span, plan_blocks

Hole = tuple[str, int, int]
Expected = list[tuple[str, int, int, list[str]]]


def h(address: int, count: int, key: str) -> Span:
    return Span("holding", address, count, key)


def _shape(blocks: list[Block]) -> Expected:
    return [(b.table, b.address, b.count, [s.key for s in b.spans]) for b in blocks]


# (spans, max_gap, holes, expected blocks)
ROWS: list[tuple[list[Span], int, list[Hole], Expected]] = [
    # contiguous spans merge with the default max_gap=0
    (
        [h(0, 2, "a"), h(2, 2, "b"), h(4, 1, "c")],
        0,
        [],
        [("holding", 0, 5, ["a", "b", "c"])],
    ),
    # a one-register gap is not merged with max_gap=0
    ([h(0, 2, "a"), h(3, 1, "b")], 0, [], [("holding", 0, 2, ["a"]), ("holding", 3, 1, ["b"])]),
    # gap of exactly max_gap merges, the gap registers are read too
    ([h(0, 2, "a"), h(5, 2, "b")], 3, [], [("holding", 0, 7, ["a", "b"])]),
    # gap one beyond max_gap does not
    ([h(0, 2, "a"), h(5, 2, "b")], 2, [], [("holding", 0, 2, ["a"]), ("holding", 5, 2, ["b"])]),
    # input order does not matter: sorted by address inside the block
    ([h(10, 1, "z"), h(8, 2, "y"), h(11, 1, "x")], 0, [], [("holding", 8, 4, ["y", "z", "x"])]),
    # duplicates share one block
    ([h(4, 2, "a"), h(4, 2, "a")], 0, [], [("holding", 4, 2, ["a", "a"])]),
    # two points on the same registers (e.g. a word and one of its bits)
    ([h(4, 1, "word"), h(4, 1, "bit3")], 0, [], [("holding", 4, 1, ["bit3", "word"])]),
    # overlapping spans share a block even with max_gap=0
    ([h(0, 4, "a"), h(2, 4, "b")], 0, [], [("holding", 0, 6, ["a", "b"])]),
    # a span contained in another does not shrink the block
    ([h(0, 10, "a"), h(2, 2, "b")], 0, [], [("holding", 0, 10, ["a", "b"])]),
    # a hole in the gap is never read: no merge across it, whatever max_gap
    (
        [h(0, 2, "a"), h(10, 2, "b")],
        20,
        [("holding", 5, 1)],
        [("holding", 0, 2, ["a"]), ("holding", 10, 2, ["b"])],
    ),
    # hole filling the whole gap exactly
    (
        [h(0, 2, "a"), h(5, 2, "b")],
        5,
        [("holding", 2, 3)],
        [("holding", 0, 2, ["a"]), ("holding", 5, 2, ["b"])],
    ),
    # holes right next to spans, outside the merged range, do not block the merge
    (
        [h(2, 2, "a"), h(5, 2, "b")],
        1,
        [("holding", 0, 2), ("holding", 7, 3)],
        [("holding", 2, 5, ["a", "b"])],
    ),
    # a hole in another table does not matter
    ([h(0, 2, "a"), h(10, 2, "b")], 20, [("input", 5, 1)], [("holding", 0, 12, ["a", "b"])]),
    # separate tables never merge; output sorted by (table, address)
    (
        [
            Span("input", 0, 1, "i0"),
            h(1, 1, "h1"),
            Span("discrete", 1, 1, "d1"),
            h(0, 1, "h0"),
            Span("coil", 0, 1, "c0"),
        ],
        10,
        [],
        [
            ("coil", 0, 1, ["c0"]),
            ("discrete", 1, 1, ["d1"]),
            ("holding", 0, 2, ["h0", "h1"]),
            ("input", 0, 1, ["i0"]),
        ],
    ),
    # register limit: exactly 125 merges...
    ([h(0, 100, "a"), h(100, 25, "b")], 0, [], [("holding", 0, 125, ["a", "b"])]),
    # ...126 splits
    (
        [h(0, 100, "a"), h(100, 26, "b")],
        0,
        [],
        [("holding", 0, 100, ["a"]), ("holding", 100, 26, ["b"])],
    ),
    # the gap counts against the limit
    (
        [h(0, 100, "a"), h(110, 16, "b")],
        10,
        [],
        [("holding", 0, 100, ["a"]), ("holding", 110, 16, ["b"])],
    ),
    (
        [Span("input", 0, 125, "full")],
        0,
        [],
        [("input", 0, 125, ["full"])],
    ),
    # bit limit: 2000 coils merge, 2001 split
    (
        [Span("coil", 0, 1999, "a"), Span("coil", 1999, 1, "b")],
        0,
        [],
        [("coil", 0, 2000, ["a", "b"])],
    ),
    (
        [Span("discrete", 0, 1999, "a"), Span("discrete", 1999, 2, "b")],
        0,
        [],
        [("discrete", 0, 1999, ["a"]), ("discrete", 1999, 2, ["b"])],
    ),
    # bit tables may use more than 125 in one block
    (
        [Span("coil", 0, 1, "a"), Span("coil", 500, 1, "b")],
        499,
        [],
        [("coil", 0, 501, ["a", "b"])],
    ),
    ([], 0, [], []),
]


@pytest.mark.parametrize(("spans", "max_gap", "holes", "expected"), ROWS)
def test_plan_blocks(
    spans: list[Span], max_gap: int, holes: list[Hole], expected: Expected
) -> None:
    assert _shape(plan_blocks(spans, max_gap=max_gap, holes=holes)) == expected


def test_many_single_registers_split_at_125() -> None:
    spans = [h(address, 1, f"r{address}") for address in range(300)]
    blocks = plan_blocks(spans)
    assert [(b.address, b.count) for b in blocks] == [(0, 125), (125, 125), (250, 50)]
    assert [s.key for s in blocks[1].spans] == [f"r{a}" for a in range(125, 250)]


def test_many_coils_split_at_2000() -> None:
    spans = [Span("coil", address, 1, f"c{address}") for address in range(4500)]
    blocks = plan_blocks(spans)
    assert [(b.address, b.count) for b in blocks] == [(0, 2000), (2000, 2000), (4000, 500)]


def test_lower_limits_for_small_devices() -> None:
    spans = [h(a, 2, f"r{a}") for a in range(0, 20, 2)] + [
        Span("coil", a, 1, f"c{a}") for a in range(20)
    ]
    blocks = plan_blocks(spans, max_registers=8, max_bits=16)
    assert [(b.table, b.address, b.count) for b in blocks] == [
        ("coil", 0, 16),
        ("coil", 16, 4),
        ("holding", 0, 8),
        ("holding", 8, 8),
        ("holding", 16, 4),
    ]


def test_blocks_carry_the_span_objects() -> None:
    a, b = h(0, 2, "a"), h(2, 2, "b")
    assert plan_blocks([b, a]) == [Block("holding", 0, 4, (a, b))]


def test_deterministic_regardless_of_input_order() -> None:
    spans = [
        Span(table, address, count, f"{table}{address}")
        for table in ("holding", "input", "coil", "discrete")
        for address, count in [(0, 2), (2, 1), (5, 4), (40, 2), (41, 1), (200, 100), (300, 30)]
    ]
    holes = [("holding", 100, 10), ("coil", 4, 1)]
    expected = plan_blocks(spans, max_gap=5, holes=holes)
    rng = random.Random(7)
    for _ in range(20):
        shuffled = spans[:]
        rng.shuffle(shuffled)
        assert plan_blocks(shuffled, max_gap=5, holes=holes) == expected
    assert [(b.table, b.address) for b in expected] == sorted(
        (b.table, b.address) for b in expected
    )


def test_every_span_is_covered_and_no_block_touches_a_hole() -> None:
    holes = [("holding", 50, 3), ("holding", 120, 1), ("holding", 301, 4)]
    spans = [
        h(a, 1 + a % 3, f"p{a}")
        for a in range(0, 400, 7)
        if all(a + 1 + a % 3 <= start or start + count <= a for _, start, count in holes)
    ]
    assert len(spans) > 50  # the filter above keeps most of them
    blocks = plan_blocks(spans, max_gap=10, holes=holes)
    for block in blocks:
        assert block.count <= 125
        for span in block.spans:
            assert block.address <= span.address
            assert span.address + span.count <= block.address + block.count
        for _, start, count in holes:
            assert block.address + block.count <= start or start + count <= block.address
    assert sorted(s.key for b in blocks for s in b.spans) == sorted(s.key for s in spans)


@pytest.mark.parametrize(
    ("spans", "holes", "kwargs", "match"),
    [
        ([h(0, 126, "too_big")], [], {}, "'too_big'.*125"),
        ([Span("coil", 0, 2001, "many_coils")], [], {}, "'many_coils'.*2000"),
        ([h(0, 9, "nine")], [], {"max_registers": 8}, "'nine'"),
        ([h(0, 1, "ok"), h(10, 2, "secret")], [("holding", 11, 1)], {}, "'secret'.*hole"),
        ([h(10, 2, "under")], [("holding", 0, 100)], {}, "'under'.*hole"),
        ([Span("holdings", 0, 1, "typo")], [], {}, "'typo'.*unknown table"),
        ([h(0, 0, "empty")], [], {}, "'empty'"),
        ([h(-1, 1, "negative")], [], {}, "'negative'"),
        ([h(65535, 2, "past_end")], [], {}, "'past_end'"),
        ([h(0, 1, "a")], [("register", 0, 1)], {}, "unknown table"),
        ([h(0, 1, "a")], [("holding", 5, 0)], {}, "hole"),
        ([h(0, 1, "a")], [], {"max_gap": -1}, "max_gap"),
        ([h(0, 1, "a")], [], {"max_registers": 126}, "max_registers"),
        ([h(0, 1, "a")], [], {"max_bits": 0}, "max_bits"),
    ],
)
def test_plan_errors(
    spans: list[Span], holes: list[Hole], kwargs: dict[str, int], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        plan_blocks(spans, holes=holes, **kwargs)
