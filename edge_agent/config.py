"""The agent's configuration: pydantic models validated once at start, cross-field checks too."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from edge_agent.rule_config import Rule
from protocols.config import Duration, PathError, SourceConfig, StrictConfig
from protocols.wire import AgentId


class HubLink(StrictConfig):
    """Where and how the agent forwards its events."""

    url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    token_file: Path | None = None
    token_env: str = "FLOORGATE_AGENT_TOKEN"
    batch_max: int = Field(default=500, ge=1, le=10_000)
    batch_age: Duration = 0.2
    timeout: Duration = 10.0
    retry_max: Duration = 30.0
    poll_interval: Duration = 5.0
    """With nothing to send for this long, an empty batch asks the hub for commands."""


class BufferConfig(StrictConfig):
    """The durable store-and-forward buffer (SQLite, WAL)."""

    path: Path = Path("data/agent-buffer.sqlite")
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)


class ReportConfig(StrictConfig):
    """Report by exception: which value changes are worth a ``value`` event."""

    values: bool = True
    heartbeat: Duration = 300.0
    deadband: float = Field(default=0.0, ge=0)
    deadbands: dict[str, float] = Field(default_factory=dict)
    """Absolute deadband per tag name or glob (``oven.*``); the first match wins."""


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
    report: ReportConfig = ReportConfig()
    health_interval: Duration = 60.0

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
