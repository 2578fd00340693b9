"""The chain check, pure and table-driven: which change it catches and which record it names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hub.audit.chain import GENESIS_HASH, ChainRecord, check_chain, parse_anchor, record_hash

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def chain(length: int) -> list[ChainRecord]:
    records: list[ChainRecord] = []
    prev = GENESIS_HASH
    for seq in range(1, length + 1):
        draft = ChainRecord(
            seq=seq,
            at=T0 + timedelta(seconds=seq),
            actor="user:ada",
            action="alarm.acked",
            object_type="alarm",
            object_id=str(seq),
            site="plant1",
            area="press",
            before={"acknowledged": False},
            after={"acknowledged": True},
            reason=None,
            data={"value": seq * 1.5},
            prev_hash=prev,
            hash="",
        )
        prev = record_hash(draft)
        records.append(replace(draft, hash=prev))
    return records


def head(records: list[ChainRecord]) -> tuple[int, str]:
    return records[-1].seq, records[-1].hash


def test_intact_chain() -> None:
    records = chain(5)
    result = check_chain(records, head(records))
    assert (result.ok, result.records, result.first_bad, result.head) == (
        True,
        5,
        None,
        records[-1].hash,
    )
    assert check_chain([], None).ok


def edited(records: list[ChainRecord]) -> list[ChainRecord]:
    records[2] = replace(records[2], reason="nothing to see")
    return records


def edited_and_rehashed(records: list[ChainRecord]) -> list[ChainRecord]:
    forged = replace(records[2], after={"acknowledged": False})
    records[2] = replace(forged, hash=record_hash(forged))
    return records


def time_moved(records: list[ChainRecord]) -> list[ChainRecord]:
    records[2] = replace(records[2], at=records[2].at + timedelta(microseconds=1))
    return records


def deleted(records: list[ChainRecord]) -> list[ChainRecord]:
    del records[3]
    return records


def deleted_and_renumbered(records: list[ChainRecord]) -> list[ChainRecord]:
    del records[3]
    return [replace(r, seq=i) for i, r in enumerate(records, start=1)]


def swapped(records: list[ChainRecord]) -> list[ChainRecord]:
    records[1], records[2] = replace(records[2], seq=2), replace(records[1], seq=3)
    return records


def inserted(records: list[ChainRecord]) -> list[ChainRecord]:
    fake = replace(records[1], seq=3, object_id="x", prev_hash=records[1].hash, hash="f" * 64)
    return [*records[:2], fake, *(replace(r, seq=r.seq + 1) for r in records[2:])]


CASES = [
    (edited, 3, "hash does not match"),
    (edited_and_rehashed, 4, "prev_hash does not match the hash of record 3"),
    (time_moved, 3, "hash does not match"),
    (deleted, 4, "record 4 is missing"),
    (deleted_and_renumbered, 4, "prev_hash does not match"),
    (swapped, 2, "prev_hash does not match the hash of record 1"),
    (inserted, 3, "hash does not match"),
]


@pytest.mark.parametrize(("tamper", "first_bad", "reason"), CASES)
def test_tampering_names_the_first_bad_record(
    tamper: Callable[[list[ChainRecord]], list[ChainRecord]], first_bad: int, reason: str
) -> None:
    original = chain(6)
    result = check_chain(tamper(list(original)), head(original))
    assert not result.ok
    assert result.first_bad == first_bad
    assert reason in (result.reason or "")
    assert result.records == first_bad - 1


def test_cut_off_end_and_foreign_tail_are_caught_by_the_head() -> None:
    records = chain(6)
    cut = check_chain(records[:4], head(records))
    assert (cut.ok, cut.first_bad) == (False, 5)
    assert "missing from the end" in (cut.reason or "")

    longer = chain(7)
    extra = check_chain(longer, head(longer[:6]))
    assert (extra.ok, extra.first_bad) == (False, 7)

    no_head = check_chain(records, None)
    assert (no_head.ok, no_head.first_bad) == (False, 1)


def rewritten_from_scratch(records: list[ChainRecord]) -> list[ChainRecord]:
    """What someone with write access to the file can do: change a record and rehash all after."""
    out: list[ChainRecord] = []
    prev = GENESIS_HASH
    for record in records:
        draft = replace(record, prev_hash=prev, hash="")
        if record.seq == 2:
            draft = replace(draft, actor="user:mallory")
        prev = record_hash(draft)
        out.append(replace(draft, hash=prev))
    return out


def test_an_anchor_catches_a_chain_rewritten_from_scratch() -> None:
    original = chain(6)
    forged = rewritten_from_scratch(original)
    # The forger also rewrote the head: without an anchor the chain looks intact.
    assert check_chain(forged, head(forged)).ok

    anchored = check_chain(forged, head(forged), {4: original[3].hash})
    assert (anchored.ok, anchored.first_bad, anchored.records) == (False, 4, 3)
    assert "anchor" in (anchored.reason or "")
    assert check_chain(original, head(original), {4: original[3].hash}).ok

    beyond = check_chain(original[:3], head(original[:3]), {5: original[4].hash})
    assert (beyond.ok, beyond.first_bad) == (False, 4)
    assert "anchored record 5 is missing" in (beyond.reason or "")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("7", "expected SEQ:HASH"),
        ("0:" + "a" * 64, "expected SEQ:HASH"),
        ("x:" + "a" * 64, "expected SEQ:HASH"),
        ("7:" + "a" * 63, "64 lowercase hex"),
        ("7:" + "A" * 64, "64 lowercase hex"),
    ],
)
def test_a_malformed_anchor_is_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_anchor(text)
    assert parse_anchor("7:" + "a" * 64) == (7, "a" * 64)
