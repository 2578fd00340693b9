"""Pydantic models for an MQTT source (plain, JSON and Sparkplug B payloads). No paho import.

Tag names: a subscription on an exact topic names its tags. A plain-text subscription on a
wildcard topic cannot know its tags in advance, so each message goes to the tag
``tag_prefix + topic``: ``tag_prefix: "line1/"`` on ``plant/+/temp`` gives the tag
``line1/plant/press/temp``. Topics that do not make a valid tag name are counted as garbled.
Such tags are listed by ``tag_prefixes()`` instead of ``tag_paths()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, field_validator, model_validator

from protocols.config_base import Duration, PathError, StrictConfig, TagName
from protocols.mqtt_payload import parse_path

TopicFilter = Annotated[str, Field(min_length=1, max_length=65535)]
SparkplugId = Annotated[str, Field(min_length=1, pattern=r"^[^/+#]+$")]
"""A Sparkplug group, edge node or device id: one topic level, no wildcard characters."""


def check_topic_filter(topic: str) -> str:
    """Validate an MQTT topic filter: ``+`` fills a whole level, ``#`` only as the last level."""
    levels = topic.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValueError(f"{topic!r}: '#' must be a whole level and the last one")
        if "+" in level and level != "+":
            raise ValueError(f"{topic!r}: '+' must fill a whole level")
    if "\x00" in topic:
        raise ValueError("a topic cannot contain NUL")
    return topic


def has_wildcard(topic: str) -> bool:
    return any(level in ("+", "#") for level in topic.split("/"))


def _check_command_topic(topic: str) -> str:
    if not topic or has_wildcard(topic):
        raise ValueError(f"a command topic cannot be empty or contain wildcards: {topic!r}")
    return topic


CommandTopic = Annotated[str, AfterValidator(_check_command_topic)]


class MqttTls(StrictConfig):
    """TLS towards the broker. ``insecure`` skips the host name check, never the CA check."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (client certificate)")
        return self


class PlainPayload(StrictConfig):
    """The payload is the bare value as text (``72.5``, ``true``, ``RUNNING``).

    On an exact topic give ``tag``; on a wildcard topic give ``tag_prefix`` (see module doc).
    ``command_topic`` makes the tag writable: a write publishes the value as text there.
    """

    format: Literal["plain"]
    type: Literal["number", "text", "bool"] = "number"
    tag: TagName | None = None
    tag_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:/-]{0,100}$")] | None = None
    command_topic: CommandTopic | None = None


class JsonTag(StrictConfig):
    """One value inside a JSON document.

    ``path`` and ``timestamp_path`` use ``$.key`` and ``[index]`` steps. A timestamp is epoch
    milliseconds or ISO-8601 text. ``command_topic`` makes the tag writable: a write publishes
    ``{"value": ...}`` there.
    """

    name: TagName
    path: str
    timestamp_path: str | None = None
    command_topic: CommandTopic | None = None

    @field_validator("path", "timestamp_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_path(value)
        return value


class JsonPayload(StrictConfig):
    """A JSON document per message. A path the message lacks leaves its tag out of that scan
    (devices that publish only what changed are normal); only a message that is not JSON at all
    counts as garbled."""

    format: Literal["json"]
    tags: list[JsonTag] = Field(min_length=1)


class SparkplugMetric(StrictConfig):
    """A metric of the edge node (or device) and the tag it feeds.

    ``writable`` lets ``write`` send it as an NCMD (or DCMD for a device metric).
    """

    name: str = Field(min_length=1)
    tag: TagName
    writable: bool = False


class SparkplugPayload(StrictConfig):
    """Sparkplug B from one edge node (``device`` unset) or one of its devices.

    The subscription's topic is derived (``spBv1.0/{group}/+/{edge_node}/#``): leave ``topic``
    out. Several subscriptions may name the same edge node, e.g. one per device.
    """

    format: Literal["sparkplug"]
    group: SparkplugId
    edge_node: SparkplugId
    device: SparkplugId | None = None
    metrics: list[SparkplugMetric] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_metrics(self) -> Self:
        seen: set[str] = set()
        for index, metric in enumerate(self.metrics):
            if metric.name in seen:
                raise PathError(f"metrics[{index}].name", f"metric {metric.name!r} is mapped twice")
            seen.add(metric.name)
        return self


Payload = Annotated[PlainPayload | JsonPayload | SparkplugPayload, Field(discriminator="format")]


class MqttSubscription(StrictConfig):
    """A topic filter, its QoS and how to read its payloads."""

    topic: TopicFilter | None = None
    qos: Literal[0, 1] = 1
    payload: Payload

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        return check_topic_filter(value) if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        payload = self.payload
        if isinstance(payload, SparkplugPayload):
            if self.topic is not None:
                raise PathError(
                    "topic", "sparkplug subscriptions derive their topic: leave topic out"
                )
            return self
        if self.topic is None:
            raise PathError("topic", f"a {payload.format} subscription needs a topic")
        if isinstance(payload, PlainPayload):
            wildcard = has_wildcard(self.topic)
            if wildcard and (payload.tag is not None or payload.tag_prefix is None):
                raise PathError(
                    "payload.tag_prefix",
                    "a wildcard topic gives each message the tag tag_prefix + topic: "
                    "give tag_prefix (may be empty), not tag",
                )
            if wildcard and payload.command_topic is not None:
                raise PathError("payload.command_topic", "not allowed on a wildcard topic")
            if not wildcard and (payload.tag is None or payload.tag_prefix is not None):
                raise PathError("payload.tag", "an exact topic names its tag: give tag")
        return self

    @property
    def filter(self) -> str:
        """The topic filter to subscribe to."""
        if isinstance(self.payload, SparkplugPayload):
            from protocols.sparkplug import node_filter  # protobuf only when Sparkplug is used

            return node_filter(self.payload.group, self.payload.edge_node)
        assert self.topic is not None, "checked by the validator"
        return self.topic


class MqttSource(StrictConfig):
    """A broker and the subscriptions that feed tags.

    The session is persistent by default (``clean_start: false`` with MQTT v5 session expiry):
    QoS 1 messages published while the agent reconnects wait at the broker for up to
    ``session_expiry`` and are delivered when it comes back with the same ``client_id``.
    ``status_topic`` gets ``online`` (retained) on connect and ``offline`` (retained) as the
    last will and on a clean close.
    """

    kind: Literal["mqtt"]
    name: TagName
    host: str
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str = Field(min_length=1, max_length=128)
    tls: MqttTls | None = None
    username: str | None = None
    password_file: Path | None = None
    clean_start: bool = False
    session_expiry: Duration = 3600.0
    keepalive: Duration = Field(default=30.0, ge=1, le=65535)
    timeout: Duration = Field(default=5.0, gt=0)
    status_topic: str | None = None
    max_queued: int = Field(default=10_000, ge=1, le=1_000_000)
    subscriptions: list[MqttSubscription] = Field(min_length=1)

    @field_validator("status_topic")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        if value is not None and (not value or has_wildcard(value)):
            raise ValueError("status_topic must be a topic without wildcards")
        return value

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if self.password_file is not None and self.username is None:
            raise PathError("password_file", "a password_file needs a username")
        seen: dict[str, str] = {}
        for path, tag in self.tag_paths():
            if tag in seen:
                raise PathError(path, f"tag {tag!r} is already defined at {seen[tag]}")
            seen[tag] = path
        return self

    def tag_paths(self) -> list[tuple[str, str]]:
        """Every tag named in the config with the key path that names it (for error messages)."""
        found: list[tuple[str, str]] = []
        for s_index, subscription in enumerate(self.subscriptions):
            payload = subscription.payload
            where = f"subscriptions[{s_index}].payload"
            if isinstance(payload, PlainPayload):
                if payload.tag is not None:
                    found.append((f"{where}.tag", payload.tag))
            elif isinstance(payload, JsonPayload):
                found += [(f"{where}.tags[{i}].name", t.name) for i, t in enumerate(payload.tags)]
            else:
                found += [
                    (f"{where}.metrics[{i}].tag", m.tag) for i, m in enumerate(payload.metrics)
                ]
        return found

    def writable_tags(self) -> list[str]:
        """Tags a hub-approved write may set: those with a command topic, writable metrics."""
        found: list[str] = []
        for subscription in self.subscriptions:
            payload = subscription.payload
            if isinstance(payload, PlainPayload):
                if payload.tag is not None and payload.command_topic is not None:
                    found.append(payload.tag)
            elif isinstance(payload, JsonPayload):
                found += [t.name for t in payload.tags if t.command_topic is not None]
            else:
                found += [m.tag for m in payload.metrics if m.writable]
        return found

    def tag_prefixes(self) -> list[str]:
        """Prefixes of tags that wildcard plain subscriptions create as messages arrive."""
        return [
            s.payload.tag_prefix
            for s in self.subscriptions
            if isinstance(s.payload, PlainPayload) and s.payload.tag_prefix is not None
        ]
