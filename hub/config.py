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


class TlsConfig(_Config):
    certfile: Path
    keyfile: Path


class HubConfig(_Config):
    """Everything the hub reads at start; unknown keys are refused."""

    listen: ListenConfig = Field(default_factory=ListenConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    tls: TlsConfig | None = None
