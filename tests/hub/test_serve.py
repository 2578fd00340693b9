"""Config models and the uvicorn wiring that ``floorgate hub`` uses."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.config import HubConfig
from hub.serve import build_server
from tests.hub.conftest import RunningHub


def test_config_defaults() -> None:
    config = HubConfig()
    assert (config.listen.host, config.listen.port) == ("127.0.0.1", 8400)
    assert config.storage.path == Path("data/hub.duckdb")
    assert config.auth.token_ttl_hours == 12
    assert config.tls is None


@pytest.mark.parametrize(
    "data",
    [
        {"listen": {"port": 8400, "bind": "0.0.0.0"}},
        {"storage": {"path": "x.duckdb"}, "extra": 1},
        {"auth": {"token_ttl_hours": 0}},
        {"tls": {"certfile": "cert.pem"}},
    ],
)
def test_config_refuses_unknown_or_invalid_keys(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        HubConfig.model_validate(data)


def test_tls_files_reach_uvicorn() -> None:
    config = HubConfig.model_validate({"tls": {"certfile": "c.pem", "keyfile": "k.pem"}})
    server = build_server(config)
    assert (server.config.ssl_certfile, server.config.ssl_keyfile) == ("c.pem", "k.pem")


@pytest.fixture
def serve_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="hub.serve")
    return caplog


def test_start_is_logged_with_the_bound_address(
    serve_logs: pytest.LogCaptureFixture, hub: RunningHub
) -> None:
    records = serve_logs.get_records("setup")
    messages = [r.getMessage() for r in records if r.name == "hub.serve"]
    assert messages == [f"hub listening on {hub.url}"]
