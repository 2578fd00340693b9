"""Pure decoding of plain-text and JSON MQTT payloads into tag values.

No I/O and no paho: the adapter hands bytes in and gets values or a ``PayloadError`` back, which
it counts as a garbled payload. The JSON path language is a deliberately small subset of
JSONPath: ``$`` followed by ``.key`` and ``[index]`` steps, e.g. ``$.press.zones[0]``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Final, Literal

from protocols.wire import Scalar

PlainType = Literal["number", "text", "bool"]
PathStep = str | int
Path = tuple[PathStep, ...]

_TRUE: Final = frozenset({"true", "1", "on"})
_FALSE: Final = frozenset({"false", "0", "off"})
_INTEGER = re.compile(r"^[+-]?\d+$")
_STEP = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")


class PayloadError(ValueError):
    """The payload cannot be read the way the subscription says; the adapter counts it."""


class _Missing:
    """The type of ``MISSING``; a class so that mypy can narrow on it."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""What ``extract`` returns when the document has no value at the path."""


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None


def decode_plain(payload: bytes, type_: PlainType) -> bool | int | float | str:
    """Read a payload that is the bare value as text.

    Args:
        payload: The message body.
        type_: ``number`` gives an int for integral text (``"42"``) and a float otherwise
            (``"-3.5"``, ``"1e3"``); non-finite numbers are refused. ``bool`` accepts
            true/false, 1/0 and on/off in any case. ``text`` gives the UTF-8 text unchanged.

    Raises:
        PayloadError: The payload is not valid UTF-8 or not a value of the type.
    """
    text = _text(payload)
    if type_ == "text":
        return text
    word = text.strip()
    if type_ == "bool":
        folded = word.lower()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
        raise PayloadError(f"not a bool: {_preview(word)}")
    if _INTEGER.match(word):
        return int(word)
    try:
        number = float(word)
    except ValueError:
        raise PayloadError(f"not a number: {_preview(word)}") from None
    if not math.isfinite(number):
        raise PayloadError(f"not a finite number: {_preview(word)}")
    return number


def encode_plain(value: Scalar, type_: PlainType) -> bytes:
    """The text a device expects for a written value: the inverse of ``decode_plain``.

    Raises:
        ValueError: The value does not fit the type (e.g. text for a number tag).
    """
    if type_ == "text":
        if not isinstance(value, str):
            raise ValueError(f"takes text, not {value!r}")
        return value.encode("utf-8")
    if type_ == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"takes true or false, not {value!r}")
        return b"true" if value else b"false"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"takes a number, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"takes a finite number, not {value!r}")
    return repr(value).encode("ascii")


def parse_path(text: str) -> Path:
    """Compile ``$.a.b[0]`` into ``("a", "b", 0)``; ``$`` alone is the whole document.

    Raises:
        ValueError: The text is not in the supported subset, with the offending position.
    """
    if not text.startswith("$"):
        raise ValueError(f"a path starts with $, e.g. $.temperature (got {text!r})")
    steps: list[PathStep] = []
    position = 1
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            raise ValueError(
                f"cannot read {text!r} at character {position}: use .key and [index] steps"
            )
        key, index = match.groups()
        steps.append(key if key is not None else int(index))
        position = match.end()
    return tuple(steps)


def format_path(path: Path) -> str:
    """The inverse of ``parse_path``, for messages."""
    return "$" + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)


def _no_constants(name: str) -> object:
    raise PayloadError(f"{name} is not a JSON number")


def load_json(payload: bytes) -> object:
    """Parse a JSON document; ``NaN`` and ``Infinity`` are refused like any other garbage.

    Raises:
        PayloadError: The payload is not UTF-8 JSON.
    """
    text = _text(payload)
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"not JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise PayloadError("not JSON: nested too deeply") from None


def extract(document: object, path: Path) -> object:
    """The value at ``path``, or ``MISSING`` when a key or index along it does not exist."""
    node = document
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return MISSING
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return MISSING
            node = node[step]
    return node


def json_scalar(value: object, path: Path) -> Scalar:
    """A JSON scalar as a tag value; ``null`` is ``None``.

    Raises:
        PayloadError: The path holds an object or an array.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    kind = "an object" if isinstance(value, dict) else "an array"
    raise PayloadError(f"{format_path(path)} holds {kind}, not a value")


def parse_timestamp(value: object) -> datetime:
    """A device timestamp: epoch milliseconds (number) or ISO-8601 text (naive means UTC).

    Milliseconds because that is what Sparkplug, ThingsBoard and most gateways send.

    Raises:
        PayloadError: Neither form, or out of range.
    """
    if isinstance(value, bool):
        raise PayloadError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value / 1000.0, UTC)
        except (OverflowError, OSError, ValueError):
            raise PayloadError(f"timestamp out of range: {value!r}") from None
    if isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            raise PayloadError(f"not an ISO-8601 timestamp: {_preview(value)}") from None
        return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
    raise PayloadError(f"not a timestamp: {_preview(repr(value))}")


def _preview(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
