"""Detection rule models: one per rule kind, joined in the ``Rule`` discriminated union.

Each rule is an alarm definition. A rule with one alarm condition raises under its own name
(``NAME``); a rule with several raises each under ``NAME.CONDITION``, and the set of conditions
is fixed by the kind (not by which options are given), so alarm ids stay stable when a rule is
edited:

=================  ==============================================
kind               alarm ids
=================  ==============================================
threshold          NAME.hihi, NAME.hi, NAME.lo, NAME.lolo
rate_of_change     NAME.rising, NAME.falling
stale              NAME.stale, NAME.bad
state              NAME
plan_deviation     NAME.behind, NAME.stopped
drift              NAME.high, NAME.low
lot_on_hold        NAME
=================  ==============================================

``NAME`` is ``name`` when given, else the rule's ``tag``. Cross-rule checks (unique names, tags
that exist) need the whole agent config: :func:`check_rules`.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, PlainValidator, model_validator

from protocols.config import Duration, PathError, StrictConfig, TagName
from protocols.wire import Category, Severity

PositiveDuration = Annotated[Duration, Field(gt=0)]
"""A duration that must be longer than zero (a window, an age)."""


def _state_value(value: object) -> bool | int | str:
    # One plain check rather than a union: a wrong value gets one message, not one per member.
    if isinstance(value, (bool, int, str)):
        return value
    raise ValueError("a state is a whole number, true/false or a text")


StateValue = Annotated[bool | int | str, PlainValidator(_state_value)]
"""A discrete state as a tag reports it: a number (``2``), a text (``"DOWN"``), a bit."""

PER_SECONDS = {"s": 1.0, "min": 60.0, "h": 3600.0}
"""Seconds in each unit a rate of change can be given per."""


class _RuleBase(StrictConfig):
    # NaN passes every comparison as False: a NaN limit would silently never alarm.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: TagName | None = None
    tag: TagName
    severity: Severity | None = None
    latching: bool = False
    """Its alarms stay active after the condition clears, until acknowledged."""

    @property
    def rule_name(self) -> str:
        return self.name or self.tag

    def tag_fields(self) -> dict[str, str]:
        """The tags this rule reads, by the key that names each (for error paths)."""
        return {"tag": self.tag}


class ThresholdRule(_RuleBase):
    """Limits on one tag; each limit given is its own alarm (``NAME.hi``, ``NAME.hihi``, ...).

    An alarm raises once the limit has been passed for ``on_delay`` and clears once the value has
    come back by ``deadband`` for ``off_delay``, so a value hovering at the limit does not chatter.
    """

    kind: Literal["threshold"]
    hihi: float | None = None
    hi: float | None = None
    lo: float | None = None
    lolo: float | None = None
    deadband: float = Field(default=0.0, ge=0)
    on_delay: Duration = 0.0
    off_delay: Duration = 0.0
    category: Category = Category.EQUIPMENT

    @model_validator(mode="after")
    def _limits(self) -> Self:
        limits = self.limits()
        if not limits:
            raise ValueError("give at least one limit: hihi, hi, lo or lolo")
        order = [limits.get(k) for k in ("lolo", "lo", "hi", "hihi")]
        given = [v for v in order if v is not None]
        if given != sorted(given) or len(set(given)) != len(given):
            raise ValueError("limits must rise strictly in the order lolo < lo < hi < hihi")
        return self

    def limits(self) -> dict[str, float]:
        """The limits given, most severe first."""
        levels = {"hihi": self.hihi, "lolo": self.lolo, "hi": self.hi, "lo": self.lo}
        return {level: limit for level, limit in levels.items() if limit is not None}


class RateOfChangeRule(_RuleBase):
    """The change of a tag over ``window``, per second, minute or hour, against ``limit``.

    The rate is (latest value - value at ``window`` ago) / ``window``: readings are held until the
    next one, so a device that reports by exception is measured right, and noise between two
    close readings is not divided by a tiny interval. Until the tag has a full window of good
    readings the rule holds its state. ``NAME.rising`` raises above ``+limit``, ``NAME.falling``
    below ``-limit``; ``direction`` chooses which exist.
    """

    kind: Literal["rate_of_change"]
    limit: float = Field(gt=0)
    per: Literal["s", "min", "h"] = "s"
    window: PositiveDuration
    direction: Literal["rising", "falling", "both"] = "both"
    deadband: float = Field(default=0.0, ge=0)
    on_delay: Duration = 0.0
    off_delay: Duration = 0.0
    category: Category = Category.EQUIPMENT

    @model_validator(mode="after")
    def _deadband_below_limit(self) -> Self:
        if self.deadband >= self.limit:
            raise PathError("deadband", "must be less than limit, or the alarm could never clear")
        return self


class StaleRule(_RuleBase):
    """No fresh value for ``max_age`` (``NAME.stale``); bad quality for ``bad_for`` (``NAME.bad``).

    A fresh value is any reading that is not of bad quality, or with ``require_change`` one whose
    value differs from the previous one (a frozen sensor that keeps sending its last value).
    Communication loss reaches this rule as bad-quality readings. Ages are measured on the agent's
    clock (when readings arrived), so a device clock that is off cannot fake or hide staleness.
    A tag that never reports goes stale ``max_age`` after the agent's first tick.
    """

    kind: Literal["stale"]
    max_age: PositiveDuration | None = None
    require_change: bool = False
    bad_for: Duration | None = None
    category: Category = Category.EQUIPMENT

    @model_validator(mode="after")
    def _something_to_watch(self) -> Self:
        if self.max_age is None and self.bad_for is None:
            raise ValueError("give max_age, bad_for or both")
        if self.require_change and self.max_age is None:
            raise PathError("require_change", "applies to max_age: give max_age as well")
        return self


class StateRule(_RuleBase):
    """A discrete state tag equal to one of ``states`` for ``min_duration`` raises ``NAME``.

    It clears when the tag leaves those states (after ``off_delay``, 0 by default). Values
    compare exactly: ``2`` matches ``2`` and ``2.0``, ``"DOWN"`` does not match ``"down"``.
    """

    kind: Literal["state"]
    states: list[StateValue] = Field(min_length=1)
    min_duration: Duration = 0.0
    off_delay: Duration = 0.0
    category: Category = Category.EQUIPMENT


class PlanDeviationRule(_RuleBase):
    """Actual output of ``line`` against the plan entry in force (from the plan book).

    ``NAME.behind``: the count made over ``window`` (from the counter ``tag``) is more than
    ``behind_percent`` below the count planned over the same window. Plan changes inside the
    window are integrated exactly; the window is judged only when the plan covers all of it (the
    first ``window`` of a run after a planned gap is grace). A counter that goes down has wrapped
    (when ``counter_max`` is given and the wrapped step is under half the range) or was reset
    (the new value counts from zero).

    ``NAME.stopped``: ``state_tag`` shows one of ``stopped_states`` for ``min_duration`` while the
    plan says the line runs (an entry with a planned rate above zero).

    Plans are on wall-clock time, so this rule runs on the agent's clock (when readings arrive).
    """

    kind: Literal["plan_deviation"]
    line: str = Field(min_length=1)
    counter_max: int | None = Field(default=None, ge=1)
    window: PositiveDuration = 900.0
    behind_percent: float = Field(default=10.0, gt=0, lt=100)
    on_delay: Duration = 0.0
    off_delay: Duration = 0.0
    state_tag: TagName | None = None
    stopped_states: list[StateValue] | None = Field(default=None, min_length=1)
    min_duration: Duration = 0.0
    category: Category = Category.SCHEDULE

    @model_validator(mode="after")
    def _stopped_needs_both(self) -> Self:
        if self.state_tag is not None and self.stopped_states is None:
            raise PathError("stopped_states", "give the values of state_tag that mean stopped")
        if self.stopped_states is not None and self.state_tag is None:
            raise PathError("state_tag", "stopped_states needs the state_tag it applies to")
        if "min_duration" in self.model_fields_set and self.state_tag is None:
            raise PathError("min_duration", "applies to state_tag: give state_tag as well")
        if self.state_tag == self.tag:
            raise PathError("state_tag", "must differ from tag (the counter)")
        return self

    def tag_fields(self) -> dict[str, str]:
        fields = {"tag": self.tag}
        if self.state_tag is not None:
            fields["state_tag"] = self.state_tag
        return fields


_EWMA_KEYS = ("lambda", "L")
_CUSUM_KEYS = ("k", "h")


class DriftRule(_RuleBase):
    """Slow drift from ``target`` that no threshold sees: EWMA or CUSUM, in units of ``sigma``.

    ``ewma``: z = lambda * x + (1 - lambda) * z, from z = target; alarms when z leaves
    target +/- L * sigma * sqrt(lambda / (2 - lambda) * (1 - (1 - lambda)^(2n))).
    ``cusum``: C+ = max(0, C+ + (x - target) / sigma - k) and C- likewise downwards; alarms when
    one passes ``h``. Either raises ``NAME.high`` or ``NAME.low``, clears when its statistic is
    back within the limit, then restarts that statistic so the next alarm needs new evidence.
    The statistics count readings, not seconds: the poll interval sets how fast they react.
    """

    kind: Literal["drift"]
    method: Literal["ewma", "cusum"]
    target: float
    sigma: float = Field(gt=0)
    lambda_: float = Field(default=0.2, gt=0, le=1, alias="lambda")
    L: float = Field(default=3.0, gt=0)
    k: float = Field(default=0.5, ge=0)
    h: float = Field(default=5.0, gt=0)
    category: Category = Category.QUALITY

    @model_validator(mode="after")
    def _keys_of_the_method(self) -> Self:
        given = {
            field.alias or name
            for name, field in type(self).model_fields.items()
            if name in self.model_fields_set
        }
        other, other_method = (
            (_CUSUM_KEYS, "cusum") if self.method == "ewma" else (_EWMA_KEYS, "ewma")
        )
        for key in other:
            if key in given:
                raise PathError(key, f"applies to method {other_method}, not {self.method}")
        return self


class LotOnHoldRule(_RuleBase):
    """The lot named by ``tag`` is on the quality-hold list: ``NAME``.

    Re-evaluated when the lot tag changes and on every tick, so a hold list that changes while
    the lot stays is seen at the next tick. Whitespace around the lot text is ignored; an empty
    lot is never on hold.
    """

    kind: Literal["lot_on_hold"]
    category: Category = Category.QUALITY


Rule = Annotated[
    ThresholdRule
    | RateOfChangeRule
    | StaleRule
    | StateRule
    | PlanDeviationRule
    | DriftRule
    | LotOnHoldRule,
    Field(discriminator="kind"),
]
"""Any rule kind; ``kind`` chooses the model."""


def check_rules(rules: Sequence[Rule], known_tags: Container[str]) -> None:
    """The checks that need every rule and the tag table: names unique, tags defined.

    Raises:
        PathError: With a path such as ``rules[3].state_tag``, for the agent config's validator.
    """
    first: dict[str, int] = {}
    for index, rule in enumerate(rules):
        for key, tag in rule.tag_fields().items():
            if tag not in known_tags:
                raise PathError(f"rules[{index}].{key}", f"no source defines tag {tag!r}")
        name = rule.rule_name
        if name in first:
            hint = "" if rule.name else " (give each rule on one tag its own name)"
            raise PathError(
                f"rules[{index}].name",
                f"rule {name!r} is already defined by rules[{first[name]}]{hint}",
            )
        first[name] = index
