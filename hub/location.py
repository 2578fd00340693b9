"""Where an event comes from: ``context["site"|"area"|"line"]``, as the agent sends them.

Only non-empty strings count; anything else means "not located" (and a scoped user will not see
the data, see hub/auth/scope.py).
"""

from __future__ import annotations

from typing import NamedTuple

from protocols.wire import Event, Scalar


class Location(NamedTuple):
    site: str | None
    area: str | None
    line: str | None


def text(value: Scalar) -> str | None:
    return value if isinstance(value, str) and value else None


def location_of(event: Event) -> Location:
    context = event.context
    return Location(text(context.get("site")), text(context.get("area")), text(context.get("line")))
