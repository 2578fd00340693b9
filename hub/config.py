"""The hub's configuration, validated once at start (the lead's loader reads the YAML into it)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListenConfig(_Config):
    # Loopback by default: exposing the hub on the plant network is a deliberate choice.
    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=0, le=65535)


class StorageConfig(_Config):
    path: Path = Path("data/hub.duckdb")
    threads: int | None = Field(default=None, ge=1)
    """DuckDB's worker threads; None: one per core. 1 saves ingest a little CPU (no handing
    work between threads) but leaves a large read on one core (docs/configuration.md)."""


class IngestConfig(_Config):
    workers: int | None = Field(default=None, ge=0)
    """Processes that parse large ingest batches beside the hub's own; None: one per core, at
    most 4, none on one core; 0: every batch is parsed in the hub process."""


class AuthConfig(_Config):
    token_ttl_hours: float = Field(default=12, gt=0)


class AlarmsConfig(_Config):
    max_shelve_minutes: int = Field(default=8 * 60, gt=0)
    """The longest shelve a user may ask for (ISA-18.2: shelving is always time-limited)."""
    timer_poll_seconds: float = Field(default=30, gt=0)
    """The shelve timer wakes at the next expiry, and at least this often (it also catches
    expiries of shelves made by another process, and clock jumps)."""


class StreamsConfig(_Config):
    heartbeat_seconds: float = Field(default=15, gt=0)
    """A comment line this often keeps idle SSE connections open through proxies."""
    max_queued: int = Field(default=1000, gt=0)
    """Changes a live subscriber may fall behind before it is dropped (it then reconnects)."""


class LogsConfig(_Config):
    json_requests: bool = False
    """One JSON line per HTTP request on the ``hub.access`` logger."""


class PlaybooksConfig(_Config):
    path: Path | None = None
    """A folder of playbook YAML files (``*.yaml``, ``*.yml``); none means no playbooks run."""
    timer_poll_seconds: float = Field(default=1, gt=0)
    """How often the governance pump looks for new alarm raises, agent command results and
    due SLA timers (every inbox read and decision also catches up first)."""


ConstraintStatus = Literal["available", "reduced", "unavailable", "lot_held"]


class ConstraintRule(_Config):
    """Alarms that put a constraint on the floor while they are active (first match wins)."""

    rules: list[str] = Field(default_factory=list)
    """Alarm rule patterns (``fnmatch``, e.g. ``*.stopped``); empty: any rule."""
    categories: list[str] = Field(default_factory=list)
    """Alarm categories; empty: any category."""
    status: ConstraintStatus
    capacity_impact_percent: float | None = Field(default=None, ge=0, le=100)
    reason: str = Field(min_length=1, max_length=500)


def _default_constraint_rules() -> list[ConstraintRule]:
    # The agent's plan_deviation rule raises NAME.stopped and NAME.behind; state rules that
    # watch a machine-down state are conventionally named "...-down".
    return [
        ConstraintRule(
            rules=["*.stopped", "*-down", "*_down", "*.down"],
            status="unavailable",
            capacity_impact_percent=100,
            reason="equipment down",
        ),
        ConstraintRule(rules=["*.behind"], status="reduced", reason="rate behind plan"),
    ]


class FeedsConfig(_Config):
    poll_seconds: float = Field(default=1, gt=0)
    """How often the feeds pump derives constraints from alarms and holds, publishes constraint
    changes and sends plans and hold lists to agents it has not brought up to date."""
    constraint_rules: list[ConstraintRule] = Field(default_factory=_default_constraint_rules)


class WebhooksConfig(_Config):
    poll_seconds: float = Field(default=1, gt=0)
    """How often the sender looks for due deliveries (a new event also wakes it)."""
    timeout_seconds: float = Field(default=10, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    """A delivery that fails this many times is marked ``failed`` (kept in the log)."""
    backoff_seconds: float = Field(default=5, gt=0)
    """The wait before the first retry; it doubles per attempt, up to ``max_backoff_seconds``."""
    max_backoff_seconds: float = Field(default=3600, gt=0)


class PlannerLine(_Config):
    """Where the planner board reads a line's actual output."""

    site: str = Field(min_length=1)
    line: str = Field(min_length=1)
    counter_tag: str = Field(min_length=1)
    """The tag of the line's good-count counter, as the agents report it (a counter that
    goes down was reset or rolled over; counting goes on from the new value)."""


class PlannerConfig(_Config):
    lines: list[PlannerLine] = Field(default_factory=list)
    """Lines whose produced count the board sets against the plan; a line not listed shows
    its plan without the actual."""
    refresh_seconds: float = Field(default=10, gt=0)
    """How often a live board recomputes plan against actual (new counts, the clock); a new
    plan upload is picked up within a second."""

    @model_validator(mode="after")
    def _one_counter_per_line(self) -> Self:
        seen: set[tuple[str, str]] = set()
        for index, entry in enumerate(self.lines):
            key = (entry.site, entry.line)
            if key in seen:
                raise ValueError(f"lines[{index}]: {entry.site}/{entry.line} is listed twice")
            seen.add(key)
        return self


class TlsConfig(_Config):
    certfile: Path
    keyfile: Path


class HubConfig(_Config):
    """Everything the hub reads at start; unknown keys are refused."""

    listen: ListenConfig = Field(default_factory=ListenConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    streams: StreamsConfig = Field(default_factory=StreamsConfig)
    logs: LogsConfig = Field(default_factory=LogsConfig)
    playbooks: PlaybooksConfig = Field(default_factory=PlaybooksConfig)
    feeds: FeedsConfig = Field(default_factory=FeedsConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    planner: PlannerConfig = Field(default_factory=PlannerConfig)
    tls: TlsConfig | None = None
