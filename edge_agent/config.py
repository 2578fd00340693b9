"""The agent's configuration: pydantic models validated once at start, cross-field checks too."""

from __future__ import annotations

import ipaddress
from collections.abc import Container
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from edge_agent.rule_config import Rule, check_rules
from protocols.config import (
    Duration,
    Interval,
    ModbusRtuSource,
    PathError,
    SerialLine,
    SourceConfig,
    StrictConfig,
)
from protocols.wire import AgentId


class HubLink(StrictConfig):
    """Where and how the agent forwards its events."""

    url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    token_file: Path | None = None
    token_env: str = "FLOORGATE_AGENT_TOKEN"
    batch_max: int = Field(default=500, ge=1, le=10_000)
    batch_age: Interval = 0.2
    timeout: Interval = 10.0
    retry_max: Interval = 30.0
    gzip: bool = False
    """Compress ingest bodies: worth it on slow links (cellular, radio), not on a LAN."""
    poll_interval: Interval = 5.0
    """With nothing to send for this long, an empty batch asks the hub for commands."""


class BufferConfig(StrictConfig):
    """The durable store-and-forward buffer (SQLite, WAL)."""

    path: Path = Path("data/agent-buffer.sqlite")
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)


class PanelConfig(StrictConfig):
    """The local HTTP API for an HMI panel and for Prometheus (see ``edge_agent.panel``)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8410, ge=0, le=65535)
    token_file: Path | None = None
    max_shelve: Duration = 8 * 3600.0

    @model_validator(mode="after")
    def _token_off_loopback(self) -> Self:
        if self.enabled and self.token_file is None and not _is_loopback(self.host):
            raise PathError(
                "token_file", f"required when host is not a loopback address ({self.host})"
            )
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ReportConfig(StrictConfig):
    """Report by exception: which value changes are worth a ``value`` event."""

    values: bool = True
    heartbeat: Interval = 300.0
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
    panel: PanelConfig = PanelConfig()
    health_interval: Interval = 60.0

    @model_validator(mode="after")
    def _tags_known_and_unique(self) -> Self:
        owner: dict[str, str] = {}
        prefixes: list[str] = []
        for s_index, source in enumerate(self.sources):
            for path, tag in source.tag_paths():
                if tag in owner:
                    raise PathError(
                        f"sources[{s_index}].{path}",
                        f"tag {tag!r} is already defined by source {owner[tag]!r}",
                    )
                owner[tag] = source.name
            prefixes.extend(source.tag_prefixes())
        check_rules(self.rules, _KnownTags(owner, tuple(prefixes)))
        return self

    @model_validator(mode="after")
    def _serial_lines_agree(self) -> Self:
        lines: dict[str, tuple[int, SerialLine]] = {}
        for index, source in enumerate(self.sources):
            if not isinstance(source, ModbusRtuSource):
                continue
            first = lines.setdefault(source.serial.device, (index, source.serial))
            if first[1] != source.serial:
                raise PathError(
                    f"sources[{index}].serial",
                    f"line {source.serial.device} is set up differently in sources[{first[0]}]: "
                    "every device on one line must use the same settings",
                )
        return self


class _KnownTags:
    """Tags a rule may name: those configured, and those a wildcard subscription can create."""

    def __init__(self, tags: Container[str], prefixes: tuple[str, ...]) -> None:
        self._tags = tags
        self._prefixes = prefixes

    def __contains__(self, tag: object) -> bool:
        return tag in self._tags or (isinstance(tag, str) and tag.startswith(self._prefixes))
