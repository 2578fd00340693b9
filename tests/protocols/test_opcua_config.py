"""The OPC UA source config: accepted forms and the key path of every refusal."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from protocols.config import PathError
from protocols.opcua_config import OpcUaSource

TAG = {"name": "press.temperature", "node": "ns=2;s=press.temperature"}


def source(*groups: dict[str, Any], **extra: Any) -> OpcUaSource:
    return OpcUaSource.model_validate(
        {
            "kind": "opcua",
            "name": "press",
            "endpoint": "opc.tcp://plc1:4840",
            "groups": list(groups) or [{"tags": [TAG]}],
            **extra,
        }
    )


def _error(*groups: dict[str, Any], **extra: Any) -> tuple[str, str]:
    """(location pydantic reports + PathError.path, message) of the single error."""
    with pytest.raises(ValidationError) as caught:
        source(*groups, **extra)
    (error,) = caught.value.errors()
    where = ".".join(str(part) for part in error["loc"])
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, PathError):
        where = f"{where}.{cause.path}" if where else cause.path
    return where, error["msg"]


def test_defaults_and_every_node_form() -> None:
    nodes = [
        "ns=2;s=Press.Temperature",
        "ns=2;i=1001",
        "nsu=urn:vendor:plc;s=Press.Temperature",
        "i=2258",
        "ns=3;s=Line 1;Press=A",  # string ids may hold ';' and '='
        "ns=1;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63",
        "/Objects/2:Press/2:Temperature",
        "/Objects/Server/ServerStatus",
    ]
    config = source(
        {
            "mode": "subscribe",
            "interval": "250ms",
            "queue_size": 5,
            "deadband": {"kind": "absolute", "value": 0.5},
            "tags": [{"name": f"t{i}", "node": node} for i, node in enumerate(nodes)],
        },
        {"mode": "poll", "interval": "2s", "tags": [{**TAG, "writable": True}]},
    )
    assert config.timeout == 5.0
    assert config.watchdog == 10.0
    assert config.security.mode == "None"
    assert config.groups[0].interval == 0.25
    assert [tag.node for tag in config.groups[0].tags] == nodes
    assert config.writable_tags() == ["press.temperature"]
    assert config.tag_paths()[-1] == ("groups[1].tags[0].name", "press.temperature")
    assert config.tag_prefixes() == []


def test_a_tag_defined_twice_names_the_second_place() -> None:
    where, message = _error({"tags": [TAG]}, {"mode": "poll", "tags": [TAG]})
    assert where == "groups[1].tags[0].name"
    assert "already defined at groups[0].tags[0].name" in message


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ("press.temperature", "not a node id"),
        ("ns=x;s=a", "not a node id"),
        ("ns=2;q=1", "not a node id"),
        ("/Objects//2:Press", "browse path"),
        ("/Objects/2:", "browse path"),
        ("/", "browse path"),
    ],
)
def test_a_malformed_node_is_refused_where_it_is(node: str, message: str) -> None:
    where, text = _error({"tags": [{"name": "t", "node": node}]})
    assert where == "groups.0.tags.0.node"
    assert message in text


@pytest.mark.parametrize(
    ("security", "where", "message"),
    [
        ({"policy": "Basic256Sha256", "mode": "Sign"}, "security.certificate", "needs the client"),
        (
            {"policy": "Basic256Sha256", "mode": "SignAndEncrypt", "certificate": "c.der"},
            "security.private_key",
            "needs the client private key",
        ),
        ({"policy": "Basic256Sha256"}, "security.mode", "policy None goes with mode None"),
        ({"mode": "Sign", "certificate": "c", "private_key": "k"}, "security.policy", "policy"),
        ({"certificate": "c.der"}, "security.certificate", "only used with mode Sign"),
    ],
)
def test_security_cross_checks(security: dict[str, Any], where: str, message: str) -> None:
    got_where, text = _error(security=security)
    assert got_where == where
    assert message in text


@pytest.mark.parametrize(
    ("groups", "extra", "where", "message"),
    [
        (
            [{"mode": "poll", "deadband": {"kind": "absolute", "value": 1}, "tags": [TAG]}],
            {},
            "groups.0.deadband",
            "not allowed on a poll group",
        ),
        (
            [{"deadband": {"kind": "percent", "value": 150}, "tags": [TAG]}],
            {},
            "groups.0.deadband.value",
            "between 0 and 100",
        ),
        ([{"interval": "20s", "tags": [TAG]}], {}, "groups[0].interval", "shorter than watchdog"),
        ([{"tags": [TAG]}], {"password_file": "pw"}, "password_file", "needs a username"),
        ([{"tags": [TAG]}], {"endpoint": "http://plc1"}, "endpoint", "should match pattern"),
        ([{"tags": [TAG]}], {"password": "secret"}, "password", "Extra inputs"),
        ([{"tags": []}], {}, "groups.0.tags", "at least 1 item"),
    ],
)
def test_refusals_name_the_key(
    groups: list[dict[str, Any]], extra: dict[str, Any], where: str, message: str
) -> None:
    got_where, text = _error(*groups, **extra)
    assert got_where == where
    assert message in text
