"""The agent's configuration: pydantic models validated once at start, cross-field checks too."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator

from protocols.config import Duration, PathError, SourceConfig, StrictConfig, TagName
from protocols.wire import AgentId, Category, Severity


class HubLink(StrictConfig):
    """Where and how the agent forwards its events."""

    url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    token_file: Path | None = None
    token_env: str = "FLOORGATE_AGENT_TOKEN"
    batch_max: int = Field(default=500, ge=1, le=10_000)
    batch_age: Duration = 0.2
    timeout: Duration = 10.0
    retry_max: Duration = 30.0


class BufferConfig(StrictConfig):
    """The durable store-and-forward buffer (SQLite, WAL)."""

    path: Path = Path("data/agent-buffer.sqlite")


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


class AgentConfig(StrictConfig):
    """One agent: where it sits in the plant, what it reads, what it watches, where it forwards."""

    agent_id: AgentId
    site: str = "site"
    area: str = "area"
    line: str | None = None
    hub: HubLink
    buffer: BufferConfig = BufferConfig()
    sources: list[SourceConfig] = Field(min_length=1)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tags_known_and_unique(self) -> Self:
        owner: dict[str, str] = {}
        for s_index, source in enumerate(self.sources):
            for t_index, tag in enumerate(source.tags):
                if tag.name in owner:
                    raise PathError(
                        f"sources[{s_index}].tags[{t_index}].name",
                        f"tag {tag.name!r} is already defined by source {owner[tag.name]!r}",
                    )
                owner[tag.name] = source.name
        names: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.tag not in owner:
                raise PathError(f"rules[{index}].tag", f"no source defines tag {rule.tag!r}")
            if rule.rule_name in names:
                raise PathError(f"rules[{index}].name", f"rule {rule.rule_name!r} is defined twice")
            names.add(rule.rule_name)
        return self
