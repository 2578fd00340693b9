"""MqttSource validation: good configs parse, bad ones name the key path."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from protocols.config import PathError
from protocols.mqtt_config import MqttSource, PlainPayload, SparkplugPayload


def source(*subscriptions: dict[str, Any], **extra: Any) -> MqttSource:
    return MqttSource.model_validate(
        {
            "kind": "mqtt",
            "name": "broker",
            "host": "127.0.0.1",
            "client_id": "agent-1",
            "subscriptions": list(subscriptions),
            **extra,
        }
    )


PLAIN = {"topic": "line1/speed", "payload": {"format": "plain", "tag": "line1.speed"}}
JSON = {
    "topic": "floorgate/sim/press",
    "qos": 0,
    "payload": {
        "format": "json",
        "tags": [{"name": "press.temperature", "path": "$.temperature", "timestamp_path": "$.ts"}],
    },
}
SPARKPLUG = {
    "payload": {
        "format": "sparkplug",
        "group": "plant",
        "edge_node": "sim",
        "metrics": [{"name": "press/temperature", "tag": "sp.press.temperature"}],
    }
}


def test_a_full_config_parses_with_defaults() -> None:
    config = source(
        PLAIN,
        JSON,
        SPARKPLUG,
        {
            "topic": "plant/+/state",
            "payload": {"format": "plain", "type": "text", "tag_prefix": ""},
        },
        keepalive="15s",
        username="agent",
        password_file="/etc/floorgate/mqtt.pass",
        status_topic="floorgate/agents/agent-1/status",
    )
    assert config.port == 1883
    assert config.clean_start is False
    assert config.keepalive == 15.0
    assert config.subscriptions[0].qos == 1
    assert isinstance(config.subscriptions[2].payload, SparkplugPayload)
    assert config.subscriptions[2].filter == "spBv1.0/plant/+/sim/#"
    assert isinstance(config.subscriptions[3].payload, PlainPayload)
    assert config.tag_paths() == [
        ("subscriptions[0].payload.tag", "line1.speed"),
        ("subscriptions[1].payload.tags[0].name", "press.temperature"),
        ("subscriptions[2].payload.metrics[0].tag", "sp.press.temperature"),
    ]
    assert config.tag_prefixes() == [""]


def _error(*subscriptions: dict[str, Any], **extra: Any) -> tuple[str, str]:
    """(location pydantic reports + PathError.path, message) of the single error."""
    with pytest.raises(ValidationError) as caught:
        source(*subscriptions, **extra)
    (error,) = caught.value.errors()
    where = ".".join(str(part) for part in error["loc"])
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, PathError):
        where = f"{where}.{cause.path}" if where else cause.path
    return where, error["msg"]


def test_a_tag_defined_twice_names_the_second_place() -> None:
    twice = {"topic": "other", "payload": {"format": "plain", "tag": "press.temperature"}}
    where, message = _error(JSON, twice)
    assert where == "subscriptions[1].payload.tag"
    assert "already defined at subscriptions[0].payload.tags[0].name" in message


@pytest.mark.parametrize(
    ("subscription", "where", "message"),
    [
        (
            {"topic": "a/#/b", "payload": {"format": "plain", "tag": "x"}},
            "subscriptions.0.topic",
            "'#' must be a whole level",
        ),
        (
            {"topic": "a/b+", "payload": {"format": "plain", "tag": "x"}},
            "subscriptions.0.topic",
            "'+' must fill a whole level",
        ),
        (
            {"topic": "a/+", "payload": {"format": "plain", "tag": "x"}},
            "subscriptions.0.payload.tag_prefix",
            "give tag_prefix",
        ),
        (
            {"topic": "a/b", "payload": {"format": "plain", "tag_prefix": "x"}},
            "subscriptions.0.payload.tag",
            "give tag",
        ),
        (
            {"payload": {"format": "plain", "tag": "x"}},
            "subscriptions.0.topic",
            "needs a topic",
        ),
        (
            {"topic": "x", **SPARKPLUG},
            "subscriptions.0.topic",
            "derive their topic",
        ),
        (
            {"topic": "a", "payload": {"format": "xml", "tag": "x"}},
            "subscriptions.0.payload",
            "does not match any of the expected tags",
        ),
        (
            {"topic": "a", "qos": 2, "payload": {"format": "plain", "tag": "x"}},
            "subscriptions.0.qos",
            "Input should be 0 or 1",
        ),
        (
            {
                "topic": "a",
                "payload": {"format": "json", "tags": [{"name": "x", "path": "temperature"}]},
            },
            "subscriptions.0.payload.json.tags.0.path",
            "a path starts with $",
        ),
        (
            {
                "topic": "a",
                "payload": {"format": "plain", "tag": "x", "command_topic": "cmd/+"},
            },
            "subscriptions.0.payload.plain.command_topic",
            "cannot be empty or contain wildcards",
        ),
        (
            {
                "payload": {
                    "format": "sparkplug",
                    "group": "plant",
                    "edge_node": "a/b",
                    "metrics": [{"name": "m", "tag": "t"}],
                }
            },
            "subscriptions.0.payload.sparkplug.edge_node",
            "String should match pattern",
        ),
        (
            {
                "payload": {
                    "format": "sparkplug",
                    "group": "plant",
                    "edge_node": "sim",
                    "metrics": [{"name": "m", "tag": "t"}, {"name": "m", "tag": "u"}],
                }
            },
            "subscriptions.0.payload.sparkplug.metrics[1].name",
            "mapped twice",
        ),
    ],
)
def test_bad_subscriptions_name_the_key(
    subscription: dict[str, Any], where: str, message: str
) -> None:
    got_where, got_message = _error(subscription)
    assert got_where == where
    assert message in got_message


def test_password_file_needs_a_username() -> None:
    where, message = _error(PLAIN, password_file="/x")
    assert where == "password_file"
    assert "needs a username" in message


def test_a_plain_password_is_not_a_key() -> None:
    where, _ = _error(PLAIN, username="u", password="secret")
    assert where == "password"


def test_status_topic_cannot_be_a_filter() -> None:
    where, message = _error(PLAIN, status_topic="agents/+/status")
    assert where == "status_topic"
    assert "without wildcards" in message
