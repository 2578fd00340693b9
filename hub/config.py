"""The hub's configuration, validated once at start (the lead's loader reads the YAML into it)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListenConfig(_Config):
    # Loopback by default: exposing the hub on the plant network is a deliberate choice.
    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=0, le=65535)


class StorageConfig(_Config):
    path: Path = Path("data/hub.duckdb")


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


class TlsConfig(_Config):
    certfile: Path
    keyfile: Path


class HubConfig(_Config):
    """Everything the hub reads at start; unknown keys are refused."""

    listen: ListenConfig = Field(default_factory=ListenConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    streams: StreamsConfig = Field(default_factory=StreamsConfig)
    logs: LogsConfig = Field(default_factory=LogsConfig)
    tls: TlsConfig | None = None
