"""Detection rule models: one per rule kind, joined in the ``Rule`` discriminated union."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from protocols.config import Duration, StrictConfig, TagName
from protocols.wire import Category, Severity


class ThresholdRule(StrictConfig):
    """Limits on one tag; each limit given is its own alarm (``NAME.hi``, ``NAME.hihi``, ...).

    An alarm raises once the limit has been passed for ``on_delay`` and clears once the value has
    come back by ``deadband`` for ``off_delay``, so a value hovering at the limit does not chatter.
    """

    kind: Literal["threshold"]
    name: TagName | None = None
    tag: TagName
    hihi: float | None = None
    hi: float | None = None
    lo: float | None = None
    lolo: float | None = None
    deadband: float = Field(default=0.0, ge=0)
    on_delay: Duration = 0.0
    off_delay: Duration = 0.0
    severity: Severity | None = None
    category: Category = Category.EQUIPMENT

    @property
    def rule_name(self) -> str:
        return self.name or self.tag

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


Rule = ThresholdRule
"""Every rule kind (rate of change, stale, state, plan deviation and drift join this union)."""
