"""The docs keep up with the code: every config key is described, every example config is valid.

A new key in any config model reachable from ``AgentConfig`` or ``HubConfig`` fails here until
docs/configuration.md describes it as a backticked key (`` `max_bytes` `` or the last part of a
dotted one, `` `buffer.max_bytes` ``).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from edge_agent.config import AgentConfig
from floorgate.cli import check_file
from hub.config import HubConfig

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION = ROOT / "docs" / "configuration.md"
EXAMPLES = sorted((ROOT / "deploy" / "examples").glob("*.yaml"))


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    """Every pydantic model an annotation mentions: through Annotated, unions, lists, dicts."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _reachable(*roots: type[BaseModel]) -> list[type[BaseModel]]:
    seen: dict[type[BaseModel], None] = {}
    todo = list(roots)
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen[model] = None
        for field in model.model_fields.values():
            todo.extend(_models_in(field.annotation))
    return list(seen)


MODELS = _reachable(AgentConfig, HubConfig)
KEYS = sorted(
    {
        (field.alias or name, model.__name__, any(_models_in(field.annotation)))
        for model in MODELS
        for name, field in model.model_fields.items()
    }
)


def _documented(key: str, text: str, *, has_children: bool) -> bool:
    """`key`, or a dotted key ending in it (`a.key`, `a[].key`); a key that holds a model may
    instead be documented through its children (`key.child`)."""
    step = r"[\w\[\]]+\."
    if re.search(rf"`(?:{step})*{re.escape(key)}`", text):
        return True
    return has_children and re.search(rf"`(?:{step})*{re.escape(key)}(?:\[\])?\.", text) is not None


def test_the_walk_reaches_nested_models_unions_and_lists() -> None:
    names = {model.__name__ for model in MODELS}
    expected = {"HubLink", "MqttSource", "SparkplugMetric", "SerialLine", "DriftRule", "TlsConfig"}
    assert expected <= names


@pytest.mark.parametrize(
    ("key", "model", "has_children"), KEYS, ids=[f"{m}.{k}" for k, m, _ in KEYS]
)
def test_every_config_key_is_documented(key: str, model: str, has_children: bool) -> None:
    text = CONFIGURATION.read_text(encoding="utf-8")
    assert _documented(key, text, has_children=has_children), (
        f"{model}.{key} is not described in docs/configuration.md"
    )


def _tagged_unions(annotation: object) -> Iterator[tuple[str, tuple[object, ...]]]:
    """(discriminator, members) of every ``Field(discriminator=...)`` union in an annotation."""
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        for item in metadata:
            if isinstance(item, FieldInfo) and isinstance(item.discriminator, str):
                yield item.discriminator, typing.get_args(inner)
        yield from _tagged_unions(inner)
        return
    for arg in typing.get_args(annotation):
        yield from _tagged_unions(arg)


def _with_discriminator(field: FieldInfo) -> object:
    """The field's annotation; pydantic moves a discriminator given on the field itself
    (``payload: Payload``) from the annotation to ``field.discriminator``."""
    if isinstance(field.discriminator, str):
        return typing.Annotated[field.annotation, field]
    return field.annotation


KINDS = sorted(
    {
        f"{discriminator}: {value}"
        for model in MODELS
        for field in model.model_fields.values()
        for discriminator, members in _tagged_unions(_with_discriminator(field))
        for member in members
        if isinstance(member, type) and issubclass(member, BaseModel)
        for value in typing.get_args(member.model_fields[discriminator].annotation)
    }
)


def test_the_tagged_unions_are_found() -> None:
    assert {"kind: modbus_tcp", "kind: mqtt", "kind: threshold", "format: sparkplug"} <= set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_source_rule_and_payload_kind_is_documented(kind: str) -> None:
    assert f"`{kind}`" in CONFIGURATION.read_text(encoding="utf-8"), kind


def test_examples_include_an_mqtt_agent() -> None:
    assert "agent-mqtt.yaml" in {path.name for path in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_every_example_config_is_valid(path: Path) -> None:
    assert check_file(path) in ("agent", "hub")
