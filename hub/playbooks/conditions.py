"""Pure: the ``when:`` conditions of playbook steps, a fixed comparison language (no code runs).

A condition is one comparison ``FACT OP OPERAND``:

* ``FACT`` is one of :data:`FACTS` (what the hub knows about the run when the step would open);
* ``OP`` is ``==``, ``!=``, ``<``, ``<=``, ``>`` or ``>=``;
* ``OPERAND`` is another fact of the same kind, optionally ``+`` or ``-`` a duration for times
  (``shift_end - 15min``), or a literal: a number, a quoted text, or a severity name.

Texts compare only with ``==`` and ``!=``; severities compare in their order (low < medium <
high < critical); times and numbers compare as such. Every mismatch of kinds is refused when the
file is checked, so a condition that loads can always be evaluated; at run time a fact may still
be unknown (no plan in force, no expected end posted), and the step's ``when_unknown`` decides.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import TypeAdapter

from protocols.config_base import Duration

FactKind = Literal["text", "number", "time", "severity"]

FACTS: dict[str, FactKind] = {
    "severity": "severity",
    "category": "text",
    "rule": "text",
    "tag": "text",
    "site": "text",
    "area": "text",
    "line": "text",
    "agent_id": "text",
    "trigger": "text",
    "source_system": "text",
    "proposed_action": "text",
    "value": "number",
    "recurrences": "number",
    "now": "time",
    "occurred_at": "time",
    "expected_end": "time",
    "planned_end": "time",
    "shift_end": "time",
    "runout_at": "time",
}
"""Every fact a condition may name, and its kind (see docs/configuration.md, playbooks)."""

SEVERITIES = ("low", "medium", "high", "critical")
OPERATORS = ("==", "!=", "<=", ">=", "<", ">")

_CONDITION = re.compile(
    r"^\s*(?P<fact>[a-z_]+)\s*(?P<op>==|!=|<=|>=|<|>)\s*(?P<operand>.+?)\s*$", re.DOTALL
)
_FACT_OFFSET = re.compile(r"^(?P<fact>[a-z_]+)(?:\s*(?P<sign>[+-])\s*(?P<duration>\S+))?$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_QUOTED = re.compile(r"""^(?:'(?P<single>[^']*)'|"(?P<double>[^"]*)")$""")

Literal_ = str | float
Value = str | float | datetime | None


@dataclass(frozen=True)
class Condition:
    """One parsed comparison; :func:`parse` makes it."""

    text: str
    fact: str
    op: str
    other: str | None
    """The fact on the right, or None for a literal."""
    literal: Literal_ | None
    offset: timedelta
    """Added to a time fact on the right (``shift_end - 15min``)."""

    @property
    def facts(self) -> tuple[str, ...]:
        return (self.fact,) if self.other is None else (self.fact, self.other)

    def evaluate(self, facts: Mapping[str, Value]) -> bool | None:
        """True or False, or None when a fact it names is unknown."""
        left = facts.get(self.fact)
        right: Value
        if self.other is None:
            right = self.literal
        else:
            right = facts.get(self.other)
            if isinstance(right, datetime):
                right = right + self.offset
        if left is None or right is None:
            return None
        if FACTS[self.fact] == "severity":
            if left not in SEVERITIES or right not in SEVERITIES:
                return None
            left, right = float(SEVERITIES.index(str(left))), float(SEVERITIES.index(str(right)))
        return _compare(left, self.op, right)


def _compare(left: str | float | datetime, op: str, right: str | float | datetime) -> bool | None:
    if type(left) is not type(right) and not (
        isinstance(left, (int, float)) and isinstance(right, (int, float))
    ):
        return None
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if isinstance(left, str) or isinstance(right, str):
        return None  # ordering texts is refused at load; nothing to say at run time
    ordered = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    return bool(ordered[op](left, right))


def _fact(name: str) -> FactKind:
    kind = FACTS.get(name)
    if kind is None:
        raise ValueError(f"unknown fact {name!r}; known: {', '.join(sorted(FACTS))}")
    return kind


_DURATION = TypeAdapter(Duration)


def _duration(text: str) -> timedelta:
    try:
        seconds = _DURATION.validate_python(text)
    except ValueError as exc:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15min, 1h)") from exc
    return timedelta(seconds=float(seconds))


@functools.lru_cache(maxsize=1024)
def parse(text: str) -> Condition:
    """Raises ValueError saying what is wrong (the playbook loader adds the key path)."""
    match = _CONDITION.match(text)
    if match is None:
        raise ValueError(
            f"not a condition: {text!r} (write FACT OP VALUE, e.g. 'expected_end > shift_end'"
            f' or "severity >= high"; OP is one of {" ".join(OPERATORS)})'
        )
    fact, op, operand = match["fact"], match["op"], match["operand"]
    kind = _fact(fact)
    if kind == "text" and op not in ("==", "!="):
        raise ValueError(f"{fact} is a text: compare it with == or != only")
    quoted = _QUOTED.match(operand)
    if quoted is not None:
        value = quoted["single"] if quoted["single"] is not None else quoted["double"]
        return Condition(text, fact, op, None, _text_literal(fact, kind, value), timedelta())
    if _NUMBER.match(operand):
        if kind != "number":
            raise ValueError(f"{fact} is a {kind}: it cannot be compared with the number {operand}")
        return Condition(text, fact, op, None, float(operand), timedelta())
    if kind == "severity" and operand in SEVERITIES:
        return Condition(text, fact, op, None, operand, timedelta())
    if kind == "severity" and operand not in FACTS:
        raise ValueError(f"{operand!r} is not a severity ({', '.join(SEVERITIES)})")
    named = _FACT_OFFSET.match(operand)
    if named is None:
        raise ValueError(
            f"cannot read {operand!r}: give a fact, a number, a 'quoted text'"
            f" or a severity ({', '.join(SEVERITIES)})"
        )
    other_kind = _fact(named["fact"])
    if other_kind != kind:
        raise ValueError(f"{fact} is a {kind} but {named['fact']} is a {other_kind}")
    offset = timedelta()
    if named["sign"] is not None:
        if kind != "time":
            raise ValueError(f"only times take a duration offset ({named['fact']} is a {kind})")
        offset = _duration(named["duration"])
        offset = -offset if named["sign"] == "-" else offset
    return Condition(text, fact, op, named["fact"], None, offset)


def _text_literal(fact: str, kind: FactKind, value: str) -> str:
    if kind == "severity" and value not in SEVERITIES:
        raise ValueError(f"{fact}: {value!r} is not a severity ({', '.join(SEVERITIES)})")
    if kind in ("number", "time"):
        raise ValueError(f"{fact} is a {kind}: it cannot be compared with a text")
    return value


def check(text: str) -> str:
    """A pydantic validator: the text unchanged if it parses."""
    parse(text)
    return text


Verdict = Literal["true", "false", "unknown"]


def verdict(conditions: Sequence[str], facts: Mapping[str, Value]) -> Verdict:
    """All of ``conditions``: false if one is false, unknown if one is unknown, else true."""
    results = [parse(text).evaluate(facts) for text in conditions]
    if any(r is False for r in results):
        return "false"
    if any(r is None for r in results):
        return "unknown"
    return "true"


def named_facts(conditions: Sequence[str]) -> list[str]:
    """The facts ``conditions`` read, in order, once each."""
    seen: dict[str, None] = {}
    for text in conditions:
        for fact in parse(text).facts:
            seen[fact] = None
    return list(seen)
