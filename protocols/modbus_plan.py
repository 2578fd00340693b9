"""Pure request planning: coalesce the points of one device into as few block reads as allowed.

Fewer, larger reads are what keeps a slow serial bus inside its poll interval; the limits here
are what keep those reads legal: the protocol's maximum per request, and "holes", address ranges a
device refuses (or must never be asked for) that a merged read may not straddle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

_REGISTER_TABLES = frozenset({"holding", "input"})
_BIT_TABLES = frozenset({"coil", "discrete"})
_MAX_REGISTERS = 125  # Modbus limit for read holding/input registers
_MAX_BITS = 2000  # Modbus limit for read coils/discrete inputs


@dataclass(frozen=True)
class Span:
    """The addresses one point occupies in one table.

    ``table`` is "coil", "discrete", "holding" or "input"; ``count`` is in registers for the
    register tables and in bits for the bit tables; ``key`` names the point in errors.
    """

    table: str
    address: int
    count: int
    key: str

    @property
    def end(self) -> int:
        """First address after the span."""
        return self.address + self.count


@dataclass(frozen=True)
class Block:
    """One read request: ``count`` addresses from ``address``, covering ``spans`` in address order.

    A block may include unused addresses in the gaps between its spans (see ``max_gap``).
    """

    table: str
    address: int
    count: int
    spans: tuple[Span, ...]


def plan_blocks(
    spans: Iterable[Span],
    *,
    max_gap: int = 0,
    holes: Iterable[tuple[str, int, int]] = (),
    max_registers: int = _MAX_REGISTERS,
    max_bits: int = _MAX_BITS,
) -> list[Block]:
    """Group spans into block reads, sorted by (table, address); the same input gives the same plan.

    Per table, spans are taken in address order and each joins the current block when the unused
    gap before it is at most ``max_gap`` addresses, the grown block stays within the limit
    (``max_registers`` for holding/input, ``max_bits`` for coil/discrete; both may be lowered
    for devices that accept less, never raised past the protocol) and the grown block overlaps
    no hole ``(table, start_address, count)``. Overlapping and duplicate spans share a block.

    Raises:
        ValueError: an unknown table, a bad count/address/limit, or a span that cannot be read
            at all because it is larger than the limit or lies in a hole (the message names its
            key).
    """
    if max_gap < 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}")
    if not 1 <= max_registers <= _MAX_REGISTERS:
        raise ValueError(f"max_registers must be 1..{_MAX_REGISTERS}, got {max_registers}")
    if not 1 <= max_bits <= _MAX_BITS:
        raise ValueError(f"max_bits must be 1..{_MAX_BITS}, got {max_bits}")

    holes_by_table: dict[str, list[tuple[int, int]]] = {}
    for table, start, count in holes:
        _check_range(table, start, count, f"hole {(table, start, count)}")
        holes_by_table.setdefault(table, []).append((start, start + count))

    spans_by_table: dict[str, list[Span]] = {}
    for span in spans:
        _check_range(span.table, span.address, span.count, f"point {span.key!r}")
        spans_by_table.setdefault(span.table, []).append(span)

    blocks: list[Block] = []
    for table in sorted(spans_by_table):
        limit = max_registers if table in _REGISTER_TABLES else max_bits
        table_holes = holes_by_table.get(table, [])
        ordered = sorted(spans_by_table[table], key=lambda s: (s.address, s.count, s.key))
        for span in ordered:
            if span.count > limit:
                raise ValueError(
                    f"point {span.key!r} spans {span.count} addresses, more than the "
                    f"{limit} one {table} read allows"
                )
            if _hits_hole(span.address, span.end, table_holes):
                raise ValueError(
                    f"point {span.key!r} ({table} {span.address}..{span.end - 1}) lies in a "
                    "read-protected hole"
                )
        blocks.extend(_coalesce(table, ordered, max_gap, limit, table_holes))
    return blocks


def _coalesce(
    table: str, ordered: list[Span], max_gap: int, limit: int, holes: list[tuple[int, int]]
) -> list[Block]:
    """Greedy left-to-right merge of one table's spans, already sorted and individually valid."""
    blocks: list[Block] = []
    members: list[Span] = []
    start = end = 0
    for span in ordered:
        new_end = max(end, span.end)
        if (
            members
            and span.address - end <= max_gap
            and new_end - start <= limit
            and not _hits_hole(start, new_end, holes)
        ):
            members.append(span)
            end = new_end
            continue
        if members:
            blocks.append(Block(table, start, end - start, tuple(members)))
        members, start, end = [span], span.address, span.end
    if members:
        blocks.append(Block(table, start, end - start, tuple(members)))
    return blocks


def _hits_hole(start: int, end: int, holes: list[tuple[int, int]]) -> bool:
    """Whether ``[start, end)`` shares any address with a hole."""
    return any(start < hole_end and hole_start < end for hole_start, hole_end in holes)


def _check_range(table: str, address: int, count: int, what: str) -> None:
    if table not in _REGISTER_TABLES | _BIT_TABLES:
        raise ValueError(f"{what}: unknown table {table!r} (coil, discrete, holding, input)")
    if address < 0 or count < 1 or address + count > 0x10000:
        raise ValueError(f"{what}: address {address} count {count} is outside 0..65535")
