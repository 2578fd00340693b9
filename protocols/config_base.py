"""The building blocks every config model shares: strict models, durations, tag names, and
the error that points at a key below the model."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, None: 1.0}


def _parse_duration(value: object) -> object:
    """Accept seconds as a number or text like ``500ms``, ``2s``, ``15min``, ``1h``."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"not a duration: {value!r} (use e.g. 500ms, 2s, 15min, 1h)")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(_parse_duration), Field(ge=0)]
"""Seconds; in YAML a number or text such as ``500ms``, ``2s``, ``15min``, ``1h``."""

Interval = Annotated[float, BeforeValidator(_parse_duration), Field(gt=0)]
"""A Duration that must be above zero: a period or a time limit (0 would spin or always fail)."""

TagName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,199}$")]


class PathError(ValueError):
    """A cross-field error that knows which key, below the model, is wrong.

    ``check-config`` appends ``path`` to the location pydantic reports, so the user reads
    ``sources[0].tags[3].name`` rather than just ``sources[0]``.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


class StrictConfig(BaseModel):
    """Config models refuse unknown keys: a typo must fail loudly, not be ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)
