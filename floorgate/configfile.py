"""Reads a YAML config into its pydantic model; every problem names the file and the key path.

``sources[1].tags[3].address: Input should be less than or equal to 65535 (got 70000)`` is what a
plant engineer needs; a traceback is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from protocols.config import PathError

M = TypeVar("M", bound=BaseModel)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it: faster, and lighter on a gateway."""


class ConfigError(Exception):
    """A config file cannot be used. ``problems`` holds (key path, what is wrong) pairs."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(
            f"{self.path}: {key}: {message}" if key else f"{self.path}: {message}"
            for key, message in self.problems
        )


def read_yaml(path: Path) -> dict[str, Any]:
    """The file's top-level mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [("", f"cannot read the file: {exc}")]) from exc
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [("", f"not valid YAML: {where}{problem}")]) from exc
    if not isinstance(data, dict):
        raise ConfigError(path, [("", "expected a mapping of keys at the top of the file")])
    return data


def validate(path: Path, data: dict[str, Any], model: type[M]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [_problem(error, data) for error in exc.errors()]) from exc


def load(path: Path, model: type[M]) -> M:
    return validate(path, read_yaml(path), model)


def _problem(error: Any, data: Any) -> tuple[str, str]:
    key = key_path(error["loc"], data)
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, PathError):
        key = f"{key}.{cause.path}" if key else cause.path
    value = error.get("input")
    if error["type"] != "missing" and isinstance(value, (str, int, float, bool)):
        message = f"{message} (got {value!r})"
    return key, message


def key_path(loc: tuple[Any, ...], data: Any) -> str:
    """Render a pydantic location as ``a.b[2].c``, walking the data to leave out union tags."""
    parts: list[str] = []
    for element in loc:
        if isinstance(element, int):
            parts.append(f"[{element}]")
            data = data[element] if isinstance(data, list) and element < len(data) else None
        elif isinstance(data, dict) and element not in data and element in data.values():
            continue  # the tag of a discriminated union (the value of ``kind``), not a key
        else:
            parts.append(f".{element}" if parts else str(element))
            data = data.get(element) if isinstance(data, dict) else None
    return "".join(parts)
