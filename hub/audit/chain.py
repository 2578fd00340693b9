"""Pure: the canonical form of an audit record, its hash, and the check of a whole chain.

Each record's hash is ``sha256`` over the canonical JSON of every field but the hash itself,
``prev_hash`` (the hash of the record before) and ``seq`` included. So editing a record changes
its hash, deleting one leaves a gap in ``seq`` and a broken link, and reordering moves a ``seq``
that the hash covers. Anyone with write access to the file can still recompute the whole chain:
the chain makes tampering evident, not impossible. Anchors close that gap: a ``(seq, hash)``
written down outside the hub (a printout, a ticket, another system) that a rewritten chain cannot
match without breaking the hash function.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of record 1."""


@dataclass(frozen=True)
class ChainRecord:
    """A stored audit record, as the chain sees it (JSON fields kept as parsed values)."""

    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    site: str | None
    area: str | None
    before: Any
    after: Any
    reason: str | None
    data: Any
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    records: int
    first_bad: int | None
    reason: str | None
    head: str | None
    """The hash of the last good record (write it down elsewhere to anchor the chain)."""


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces, UTF-8 as is, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def format_time(at: datetime) -> str:
    """UTC with microseconds, always the same width (a hash must not depend on the zone)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_hash(record: ChainRecord) -> str:
    """The hash ``record`` should carry (its own ``hash`` field is not part of the input)."""
    body = {
        "seq": record.seq,
        "at": format_time(record.at),
        "actor": record.actor,
        "action": record.action,
        "object_type": record.object_type,
        "object_id": record.object_id,
        "site": record.site,
        "area": record.area,
        "before": record.before,
        "after": record.after,
        "reason": record.reason,
        "data": record.data,
        "prev_hash": record.prev_hash,
    }
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def parse_anchor(text: str) -> tuple[int, str]:
    """``"SEQ:HASH"`` (as printed by verify) -> ``(seq, hash)``; ValueError names what is wrong."""
    seq_text, sep, digest = text.partition(":")
    if not sep or not seq_text.isdigit() or int(seq_text) < 1:
        raise ValueError(f"anchor {text!r}: expected SEQ:HASH with SEQ a record number >= 1")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"anchor {text!r}: HASH must be 64 lowercase hex digits")
    return int(seq_text), digest


def check_chain(
    records: Iterable[ChainRecord],
    head: tuple[int, str] | None,
    anchors: Mapping[int, str] | None = None,
) -> ChainCheck:
    """Walk ``records`` in stored ``seq`` order and report the first record that breaks the chain.

    Args:
        records: every record, ordered by ``seq``.
        head: ``(seq, hash)`` of the last record as written beside the chain, or None if the
            chain has never been written to; it exposes records cut off the end.
        anchors: ``{seq: hash}`` written down outside the hub earlier; a record that no longer
            carries its anchored hash means the chain was rewritten from there on.
    """
    anchors = anchors or {}
    expected, prev_hash, count = 1, GENESIS_HASH, 0

    def bad(seq: int, reason: str) -> ChainCheck:
        return ChainCheck(False, count, seq, reason, prev_hash if count else None)

    for record in records:
        if record.seq > expected:
            return bad(expected, f"record {expected} is missing (next stored is {record.seq})")
        if record.seq < expected:
            return bad(record.seq, f"record {record.seq} is stored twice")
        if record.prev_hash != prev_hash:
            return bad(record.seq, f"prev_hash does not match the hash of record {expected - 1}")
        if record_hash(record) != record.hash:
            return bad(record.seq, "hash does not match the record's content")
        if record.seq in anchors and anchors[record.seq] != record.hash:
            return bad(record.seq, "hash differs from the anchor written down for this record")
        prev_hash, expected, count = record.hash, expected + 1, count + 1
    if head is not None and head != (count, prev_hash):
        if head[0] > count:
            return bad(count + 1, f"records {count + 1} to {head[0]} are missing from the end")
        if head[0] < count:
            return bad(head[0] + 1, f"records after {head[0]} were added outside the hub")
        return bad(count, "the hash of the last record differs from the recorded head")
    if head is None and count:
        return bad(1, "records exist but no head was recorded")
    if anchors and max(anchors) > count:
        return bad(count + 1, f"anchored record {max(anchors)} is missing")
    return ChainCheck(True, count, None, None, prev_hash if count else None)
