"""Wire events handed to DuckDB as one JSON text: the bulk path of ingest.

Binding a Python list per column makes DuckDB convert every value on its own (about a
microsecond each, 17 per event), which capped ingest near 30,000 rows/s. One JSON text of the
batch, written by pydantic (in Rust) and read by DuckDB's ``from_json`` (in C++), costs a small
part of that. The text is pydantic's dump of events it has validated, so every field reads
back as validated: timestamps in ISO 8601 with their offset, ``value`` and ``context`` as their
JSON text (integers of any size intact).

The text is a plain array of events (nesting it in an object costs DuckDB more than the rest of
the read), with null fields left out (they read back as NULL) and without ``agent_id`` and
``event_id``: every event of a batch has the batch's agent, bound once, and the event id is
rebuilt from it and the seq, as the wire model defines it. Where every event has the same
location (the usual batch: one gateway, one line) it is bound once too; otherwise SQL reads it
from each context.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import TypeAdapter

from protocols.wire import Event

_EVENTS = TypeAdapter(list[Event])
_LEFT_OUT = {"__all__": {"event_id", "agent_id"}}

_SCHEMA = json.dumps(
    [
        {
            "seq": "BIGINT",
            "type": "VARCHAR",
            "tag": "VARCHAR",
            "value": "JSON",
            "quality": "VARCHAR",
            "source_time": "TIMESTAMPTZ",
            "agent_time": "TIMESTAMPTZ",
            "rule": "VARCHAR",
            "severity": "VARCHAR",
            "category": "VARCHAR",
            "context": "JSON",
        }
    ]
)

Location = tuple[str | None, str | None, str | None]
"""(site, area, line)."""


@dataclass(frozen=True)
class EventsJson:
    """One agent's events as the parameters of ``events_from_json``."""

    agent_id: str
    text: str
    location: Location | None
    """The location of every event, or None if they differ."""

    def params(self) -> dict[str, object]:
        params: dict[str, object] = {"agent_id": self.agent_id, "doc": self.text}
        if self.location is not None:
            params["site"], params["area"], params["line"] = self.location
        return params


def dump_events(
    agent_id: str, events: Sequence[Event], locations: Sequence[Location]
) -> EventsJson:
    """``events`` of ``agent_id``, with the location of each, for ``events_from_json``.

    Raises:
        ValueError: an event of another agent, or not one location per event.
    """
    if len(locations) != len(events) or any(e.agent_id != agent_id for e in events):
        raise ValueError("one agent's events, one location each")
    text = _EVENTS.dump_json(list(events), exclude_none=True, exclude=_LEFT_OUT).decode()
    shared = locations[0] if locations and locations.count(locations[0]) == len(locations) else None
    return EventsJson(agent_id, text, shared)


def events_from_json(events: EventsJson, keep: str | None = None) -> str:
    """A subquery with one row per event of ``events`` (bind ``events.params()``).

    Its columns are those of the ``events`` table but ``received_at``: ``value`` and
    ``context`` of type JSON (a null ``value`` as the JSON text ``null``, as the hub has always
    stored it), ``site``, ``area`` and ``line`` as ``hub.location.location_of`` reads them.
    With ``keep``, a parameter bound to a BOOLEAN[] with a flag per event, only the events
    whose flag is true.
    """
    if events.location is not None:
        located = "$site::VARCHAR AS site, $area::VARCHAR AS area, $line::VARCHAR AS line"
    else:
        # Only non-empty strings count as a location.
        located = ", ".join(
            f"CASE WHEN json_type(e.context, '$.{key}') = 'VARCHAR'"
            f" THEN nullif(e.context->>'$.{key}', '') END AS {key}"
            for key in ("site", "area", "line")
        )
    # Unnests in one SELECT walk their lists side by side.
    rows = f"SELECT unnest(from_json($doc, '{_SCHEMA}')) AS e"
    if keep is not None:
        rows += f", unnest({keep}::BOOLEAN[]) AS keep"
    return (
        "(SELECT $agent_id || ':' || e.seq::VARCHAR AS event_id, $agent_id::VARCHAR AS agent_id,"
        " e.seq,"
        " e.type, e.tag, coalesce(e.value, 'null'::JSON) AS value, e.quality, e.source_time,"
        f" e.agent_time, e.rule, e.severity, e.category, e.context, {located}"
        f" FROM ({rows}){' WHERE keep' if keep is not None else ''})"
    )
