"""Secured OPC UA: client certificates made by ``create_certificate``, users, server pinning."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from protocols.base import ConnectError
from protocols.opcua import OpcUa
from protocols.opcua_cert import create_certificate
from protocols.sim.opcua_server import SETPOINT, OpcUaPlantServer
from protocols.sim.plant import Plant
from protocols.wire import Quality
from tests.conftest import free_port
from tests.protocols.opcua_fixtures import collect, config, tag

pytestmark = pytest.mark.asyncio(loop_scope="module")  # one secured server for the module

URI = "urn:floorgate:agent:test"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim() -> AsyncIterator[OpcUaPlantServer]:
    server = OpcUaPlantServer(Plant(), port=free_port(), secure=True, users={"operator": "s3cret"})
    async with server:
        yield server


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    create_certificate(
        folder / "agent.der",
        folder / "agent.key",
        application_uri=URI,
        common_name="Floorgate test agent",
        days=2,
    )
    create_certificate(
        folder / "agent.pem",
        folder / "agent-key.pem",
        application_uri=URI,
        common_name="Floorgate test agent",
        days=2,
    )
    (folder / "password").write_text("s3cret\n")
    (folder / "wrong").write_text("guess\n")
    return folder


def secured(sim: OpcUaPlantServer, files: Path, mode: str, **extra: Any) -> OpcUa:
    security = {
        "policy": "Basic256Sha256",
        "mode": mode,
        "certificate": str(files / "agent.der"),
        "private_key": str(files / "agent.key"),
    }
    security.update(extra.pop("security", {}))
    settings: dict[str, Any] = {
        "security": security,
        "username": "operator",
        "password_file": str(files / "password"),
        **extra,
    }
    group = {
        "mode": "poll",
        "interval": "1s",
        "tags": [tag("press.pressure"), tag(SETPOINT, writable=True)],
    }
    return OpcUa(config(sim.endpoint, group, **settings))


@pytest.mark.parametrize("mode", ["Sign", "SignAndEncrypt"])
async def test_a_created_certificate_and_a_user_get_in(
    sim: OpcUaPlantServer, files: Path, mode: str
) -> None:
    source = secured(sim, files, mode)
    async with source:
        (reading, _) = await collect(source, lambda seen: len(seen) >= 2)
        await source.write(SETPOINT, 55.5)
    assert reading.quality is Quality.GOOD
    assert reading.value == sim.plant.values()["press.pressure"]
    assert sim.read(SETPOINT) == 55.5


async def test_pem_files_and_a_pinned_server_certificate(
    sim: OpcUaPlantServer, files: Path
) -> None:
    assert sim.server_certificate is not None
    (files / "server.der").write_bytes(sim.server_certificate)
    security = {
        "certificate": str(files / "agent.pem"),
        "private_key": str(files / "agent-key.pem"),
        "server_certificate": str(files / "server.der"),
    }
    source = secured(sim, files, "SignAndEncrypt", security=security)
    async with source:
        await collect(source, lambda seen: bool(seen))


async def test_a_server_with_another_certificate_than_the_pinned_one_is_refused(
    sim: OpcUaPlantServer, files: Path
) -> None:
    source = secured(
        sim, files, "SignAndEncrypt", security={"server_certificate": str(files / "agent.der")}
    )
    with pytest.raises(ConnectError):
        async with source:
            pass


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"password_file": "wrong"}, "BadUserAccessDenied"),
        ({"username": None, "password_file": None}, "BadIdentityTokenRejected"),
        ({"password_file": "missing"}, "cannot read password_file"),
    ],
)
async def test_wrong_credentials_fail_with_connect_error(
    sim: OpcUaPlantServer, files: Path, extra: dict[str, Any], message: str
) -> None:
    for key in ("password_file",):
        if extra.get(key):
            extra[key] = str(files / extra[key])
    source = secured(sim, files, "Sign", **extra)
    with pytest.raises(ConnectError, match=message):
        async with source:
            pass


async def test_an_unsecured_client_finds_no_endpoint(sim: OpcUaPlantServer) -> None:
    source = OpcUa(config(sim.endpoint, {"tags": [tag("press.pressure")]}, username="operator"))
    with pytest.raises(ConnectError):
        async with source:
            pass
