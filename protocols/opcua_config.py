"""Configuration of an OPC UA source: endpoint, security, groups of tags (no asyncua import here).

A node is named in any standard form: ``ns=2;s=Press.Temperature``, ``ns=2;i=1001``,
``nsu=urn:vendor:plc;s=Press.Temperature`` (namespace by URI, stable across server restarts that
renumber namespaces), ``i=2258`` (namespace 0), or a browse path from the root such as
``/Objects/2:Press/2:Temperature`` (each step ``index:Name``; a bare ``Name`` is namespace 0).
Only the syntax is checked here; ``protocols.opcua`` resolves nodes when it connects.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, model_validator

from protocols.config_base import Duration, PathError, StrictConfig, TagName

_NODE_ID = re.compile(
    r"^(?:(?:ns=\d+|nsu=[^;]+);)?"  # namespace by index or by URI; none means namespace 0
    r"(?:i=\d+|s=.+|g=[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|b=[A-Za-z0-9+/=]+)$",
    re.DOTALL,
)


def check_node(node: str) -> str:
    """Validate the syntax of a node id or a browse path (see the module docstring)."""
    if node.startswith("/"):
        steps = node[1:].split("/")
        bad = [step for step in steps if not _path_step_ok(step)]
        if bad:
            raise ValueError(
                f"browse path {node!r}: step {bad[0]!r} is not 'Name' or 'index:Name' "
                "(e.g. /Objects/2:Press/2:Temperature)"
            )
        return node
    if not _NODE_ID.match(node):
        raise ValueError(
            f"not a node id: {node!r} (use e.g. ns=2;s=Press.Temperature, ns=2;i=1001, "
            "nsu=urn:vendor:plc;s=Press.Temperature or /Objects/2:Press/2:Temperature)"
        )
    return node


def _path_step_ok(step: str) -> bool:
    index, colon, name = step.partition(":")
    if colon and index.isdigit():
        return bool(name)
    return bool(step)


NodeRef = Annotated[str, Field(min_length=1, max_length=4096), AfterValidator(check_node)]
EndpointUrl = Annotated[str, Field(pattern=r"^opc\.tcp://[^/:\s]+(?::\d{1,5})?(?:/\S*)?$")]


class OpcUaTag(StrictConfig):
    """One variable on the server and the tag it feeds.

    ``writable`` allows hub-approved writes; the value is converted to the variable's data type.
    """

    name: TagName
    node: NodeRef
    writable: bool = False


class OpcUaDeadband(StrictConfig):
    """A data-change filter: a value moving by no more than this from the last one is not sent.

    ``absolute`` is in the tag's units and applied by the server. ``percent`` is of the
    variable's EURange (``value / 100 * (High - Low)``); the adapter reads the EURange when it
    subscribes and applies the deadband itself too (see ``protocols.opcua_deadband``).
    """

    kind: Literal["absolute", "percent"]
    value: float = Field(ge=0)

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.kind == "percent" and self.value > 100:
            raise PathError("value", "a percent deadband is between 0 and 100")
        return self


class OpcUaGroup(StrictConfig):
    """Tags read the same way at the same rate.

    ``subscribe``: one OPC UA subscription; ``interval`` is its publishing interval and each
    item's sampling interval, ``queue_size`` the server-side queue per item (1 keeps only the
    latest value between publishes), ``deadband`` an optional data-change filter.
    ``poll``: one Read of every tag of the group per ``interval`` (for servers or gateways whose
    subscriptions are unreliable, or values that need a read on a fixed clock).
    """

    mode: Literal["subscribe", "poll"] = "subscribe"
    interval: Duration = Field(default=1.0, gt=0)
    queue_size: int = Field(default=1, ge=1, le=100_000)
    deadband: OpcUaDeadband | None = None
    tags: list[OpcUaTag] = Field(min_length=1)

    @model_validator(mode="after")
    def _mode(self) -> Self:
        if self.mode == "poll" and self.deadband is not None:
            raise PathError(
                "deadband", "a deadband filters subscriptions: not allowed on a poll group"
            )
        return self


class OpcUaSecurity(StrictConfig):
    """The secure channel. Sign and SignAndEncrypt need the client's certificate and key.

    ``server_certificate`` pins the server: the channel is built against that certificate, so a
    server presenting another one cannot complete the handshake. Without it the certificate the
    server offers on its endpoint is used (trust on first use for this connection).
    Certificates and keys may be DER or PEM.
    """

    policy: Literal["None", "Basic256Sha256"] = "None"
    mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    certificate: Path | None = None
    private_key: Path | None = None
    server_certificate: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.policy == "None") != (self.mode == "None"):
            where = "mode" if self.policy != "None" else "policy"
            raise PathError(
                where, "policy None goes with mode None; Basic256Sha256 with Sign or SignAndEncrypt"
            )
        if self.mode != "None":
            if self.certificate is None:
                raise PathError("certificate", f"mode {self.mode} needs the client certificate")
            if self.private_key is None:
                raise PathError("private_key", f"mode {self.mode} needs the client private key")
        else:
            for key in ("certificate", "private_key", "server_certificate"):
                if getattr(self, key) is not None:
                    raise PathError(key, "only used with mode Sign or SignAndEncrypt")
        return self


class OpcUaSource(StrictConfig):
    """An OPC UA server and the groups of tags read from it.

    ``timeout`` bounds each request and the connect. ``watchdog`` is the longest silence
    (neither data nor keep-alive) a subscription may keep before the source is declared lost and
    rebuilt; keep-alives are requested often enough that a healthy subscription never trips it.
    ``max_queued`` bounds the notification batches (one per publish response) waiting for the
    reader; when it is full the oldest batch is dropped and counted.
    The password is read from ``password_file``, never written in the config.
    """

    kind: Literal["opcua"]
    name: TagName
    endpoint: EndpointUrl
    security: OpcUaSecurity = Field(default_factory=OpcUaSecurity)
    username: str | None = Field(default=None, min_length=1)
    password_file: Path | None = None
    timeout: Duration = Field(default=5.0, gt=0)
    watchdog: Duration = Field(default=10.0, gt=0)
    max_queued: int = Field(default=1000, ge=1, le=1_000_000)
    groups: list[OpcUaGroup] = Field(min_length=1)

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if self.password_file is not None and self.username is None:
            raise PathError("password_file", "a password_file needs a username")
        seen: dict[str, str] = {}
        for path, tag in self.tag_paths():
            if tag in seen:
                raise PathError(path, f"tag {tag!r} is already defined at {seen[tag]}")
            seen[tag] = path
        for index, group in enumerate(self.groups):
            if group.mode == "subscribe" and group.interval >= self.watchdog:
                raise PathError(
                    f"groups[{index}].interval",
                    f"the publishing interval ({group.interval}s) must be shorter than "
                    f"watchdog ({self.watchdog}s)",
                )
        return self

    def tag_paths(self) -> list[tuple[str, str]]:
        """Every tag with the key path that names it (for error messages)."""
        return [
            (f"groups[{g}].tags[{t}].name", tag.name)
            for g, group in enumerate(self.groups)
            for t, tag in enumerate(group.tags)
        ]

    def writable_tags(self) -> list[str]:
        return [tag.name for group in self.groups for tag in group.tags if tag.writable]

    def tag_prefixes(self) -> list[str]:
        return []
