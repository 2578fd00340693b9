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
context (the usual batch: one gateway, one line), that context is left out of the text and bound
once too (writing it per event was a third of the dump). SQL reads the location from the
context, as ``hub.location`` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import TypeAdapter

from protocols.wire import Event, Scalar

_EVENTS = TypeAdapter(list[Event])
_CONTEXT = TypeAdapter(dict[str, Scalar])
_LEFT_OUT = {"__all__": {"event_id", "agent_id"}}
_LEFT_OUT_WITH_CONTEXT = {"__all__": {"event_id", "agent_id", "context"}}

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

_EVENT_STRUCT = "STRUCT(" + ", ".join(f"{k} {v}" for k, v in json.loads(_SCHEMA)[0].items()) + ")"
"""The same shape as a DuckDB type, for ``read_json``."""


@dataclass(frozen=True)
class EventsJson:
    """One agent's events as the parameters of ``events_from_json``."""

    agent_id: str
    text: str
    context: str | None = None
    """The context of every event as JSON text, left out of ``text``; None if they differ (each
    event then has its own in ``text``)."""

    def params(self, suffix: str = "") -> dict[str, object]:
        """The parameters of ``events_from_json(self, suffix=suffix)``."""
        params: dict[str, object] = {"agent_id": self.agent_id, "doc": self.text}
        if self.context is not None:
            params["context"] = self.context
        return {name + suffix: value for name, value in params.items()}


@dataclass(frozen=True)
class Rows:
    """The events of one batch, as ``rows_from_json`` reads them."""

    events: EventsJson
    received_at: datetime
    only: Sequence[bool] | None = None
    """A flag per event: only the flagged ones are read; None: all."""


def dump_events(agent_id: str, events: Sequence[Event]) -> EventsJson:
    """``events`` of ``agent_id`` for ``events_from_json`` and the journal.

    Raises:
        ValueError: an event of another agent.
    """
    if any(event.agent_id != agent_id for event in events):
        raise ValueError("one agent's events only")
    context = None
    left_out = _LEFT_OUT
    if events and all(event.context == events[0].context for event in events):
        context = _CONTEXT.dump_json(events[0].context).decode()
        left_out = _LEFT_OUT_WITH_CONTEXT
    text = _EVENTS.dump_json(list(events), exclude_none=True, exclude=left_out).decode()
    return EventsJson(agent_id, text, context)


def events_from_json(events: EventsJson, keep: str | None = None, *, suffix: str = "") -> str:
    """A subquery with one row per event of ``events`` (bind ``events.params(suffix)``).

    Its columns are those of the ``events`` table but ``received_at``: ``value`` and
    ``context`` of type JSON (a null ``value`` as the JSON text ``null``, as the hub has always
    stored it), ``site``, ``area`` and ``line`` as ``hub.location.location_of`` reads them.
    With ``keep``, a parameter bound to a BOOLEAN[] with a flag per event, only the events
    whose flag is true. The parameter names end with ``suffix``, so that one statement can read
    several batches.
    """
    # json() writes the bound text as from_json writes each event's (numbers alike: 1e+20 is
    # stored as 100000000000000000000.0 either way); a constant, worked out once.
    context = f"json($context{suffix})" if events.context is not None else "e.context"
    # Unnests in one SELECT walk their lists side by side. The text comes in through a one-row
    # subquery: read straight from the parameter, from_json would be folded into one constant
    # list while planning, which cost as much again as the read itself.
    rows = f"SELECT unnest(from_json(d.doc, '{_SCHEMA}')) AS e"
    if keep is not None:
        rows += f", unnest({keep}::BOOLEAN[]) AS keep"
    rows += f" FROM (SELECT $doc{suffix}::VARCHAR AS doc) d"
    return (
        f"(SELECT $agent_id{suffix} || ':' || e.seq::VARCHAR AS event_id,"
        f" $agent_id{suffix}::VARCHAR AS agent_id, e.seq,"
        " e.type, e.tag, coalesce(e.value, 'null'::JSON) AS value, e.quality, e.source_time,"
        f" e.agent_time, e.rule, e.severity, e.category, {context} AS context, {_located(context)}"
        f" FROM ({rows}){' WHERE keep' if keep is not None else ''})"
    )


LOCATION_KEYS = ("site", "area", "line")
"""The context keys that place an event (``hub.location``)."""


def _location(context: str, key: str) -> str:
    """``key`` of the location read from the JSON ``context``: only a non-empty string counts,
    as in ``hub.location``."""
    return (
        f"CASE WHEN json_type({context}, '$.{key}') = 'VARCHAR'"
        f" THEN nullif({context}->>'$.{key}', '') END"
    )


def _located(context: str, prefix: str = "") -> str:
    """The site, area and line columns of the JSON ``context``, named with ``prefix``."""
    return ", ".join(f"{_location(context, key)} AS {prefix}{key}" for key in LOCATION_KEYS)


def journal_rows(path: str, max_line_bytes: int) -> str:
    """A subquery with one row per kept event of a journal segment (``hub.ingest.journal``):
    the columns of the ``events`` table, ``received_at`` included. ``path`` must be a file the
    hub wrote (it is put in the SQL text: read_json takes no parameter for it)."""
    lines = (
        f"read_json({_quote(path)}, format = 'newline_delimited', maximum_object_size ="
        f" {max_line_bytes}, columns = {{agent_id: 'VARCHAR', received_at: 'TIMESTAMPTZ',"
        f" keep: 'BOOLEAN[]', context: 'JSON', events: '{_EVENT_STRUCT}[]'}})"
    )
    # A line's shared context is read for its location once, not once per event (that was a
    # third of reading a segment); events with their own context are read one by one.
    lines = f"(SELECT *, {_located('context', 'shared_')} FROM {lines})"
    # Unnests in one SELECT walk their lists side by side; a missing keep list pads with NULL.
    rows = (
        "SELECT agent_id, received_at, context AS shared, shared_site, shared_area, shared_line,"
        f" unnest(events) AS e, unnest(keep) AS keep FROM {lines}"
    )
    located = ", ".join(
        f"CASE WHEN shared IS NULL THEN {_location('e.context', key)} ELSE shared_{key} END"
        f" AS {key}"
        for key in LOCATION_KEYS
    )
    return (
        "(SELECT agent_id || ':' || e.seq::VARCHAR AS event_id, agent_id, e.seq,"
        " e.type, e.tag, coalesce(e.value, 'null'::JSON) AS value, e.quality, e.source_time,"
        " e.agent_time, received_at, e.rule, e.severity, e.category,"
        f" coalesce(shared, e.context) AS context, {located} FROM ({rows})"
        " WHERE keep IS NOT FALSE)"
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def rows_from_json(batches: Sequence[Rows]) -> tuple[str, dict[str, object]]:
    """One subquery with the rows of several batches, and its parameters.

    Its rows are those of ``events_from_json`` of each batch (those flagged in ``only``), with
    the batch's ``received_at`` as one more column. DuckDB plans every statement anew (1 to 3
    ms for these): a group written with one statement rather than one per batch takes about
    2 ms less per batch after the first (each batch's own subquery is still planned).
    """
    parts: list[str] = []
    params: dict[str, object] = {}
    for index, batch in enumerate(batches):
        suffix = f"_{index}"
        keep = None
        if batch.only is not None:
            keep = f"$only{suffix}"
            params[f"only{suffix}"] = list(batch.only)
        params.update(batch.events.params(suffix))
        params[f"received_at{suffix}"] = batch.received_at
        parts.append(
            f"SELECT *, $received_at{suffix}::TIMESTAMPTZ AS received_at"
            f" FROM {events_from_json(batch.events, keep, suffix=suffix)}"
        )
    return f"({' UNION ALL '.join(parts)})", params
