"""Pure: an ingest body -> the valid events and a reason for each rejected one.

A batch is all-or-nothing only at the envelope: one malformed event is rejected alone (with its
index and reason) and the others go through, so an agent is never stuck behind a poison event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from annotated_types import MaxLen
from pydantic import ValidationError

from hub.errors import Unprocessable
from protocols.wire import AGENT_ID_PATTERN, Event, IngestRequest, Rejected, is_agent_id

_ENVELOPE_KEYS = frozenset({"agent_id", "events"})
"""The storage column is a signed 64-bit integer; the wire model has no upper bound."""


def _max_events() -> int:
    # Read from the wire model so both paths enforce the same limit.
    for meta in IngestRequest.model_fields["events"].metadata:
        if isinstance(meta, MaxLen):
            return meta.max_length
    raise RuntimeError("IngestRequest.events has no max_length")


MAX_EVENTS = _max_events()


@dataclass
class ParsedBatch:
    agent_id: str
    events: list[Event] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def parse_batch(body: bytes) -> ParsedBatch:
    """Validate an ingest body.

    Raises:
        Unprocessable: the body is not JSON or its envelope is wrong (nothing is accepted then).
    """
    try:
        request = IngestRequest.model_validate_json(body)
    except ValidationError:
        return _parse_item_by_item(body)
    # Fast path: every event is well-formed; the checks across fields still apply.
    batch = ParsedBatch(agent_id=request.agent_id)
    for index, event in enumerate(request.events):
        _accept(batch, index, event)
    return batch


def _parse_item_by_item(body: bytes) -> ParsedBatch:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # ValueError covers UnicodeDecodeError
        raise Unprocessable(f"body is not valid JSON: {exc}") from exc
    agent_id, items = _envelope(document)
    batch = ParsedBatch(agent_id=agent_id)
    for index, item in enumerate(items):
        try:
            event = Event.model_validate_json(json.dumps(item))
        except (ValidationError, ValueError, RecursionError) as exc:
            reason = _reason(exc) if isinstance(exc, ValidationError) else "unreadable event"
            batch.rejected.append(Rejected(index=index, event_id=_event_id(item), reason=reason))
            continue
        _accept(batch, index, event)
    return batch


def _envelope(document: Any) -> tuple[str, list[Any]]:
    if not isinstance(document, dict):
        raise Unprocessable("body must be a JSON object with 'agent_id' and 'events'")
    unknown = sorted(set(document) - _ENVELOPE_KEYS)
    if unknown:
        raise Unprocessable(f"unknown keys in body: {', '.join(unknown)}")
    missing = sorted(_ENVELOPE_KEYS - set(document))
    if missing:
        raise Unprocessable(f"missing keys in body: {', '.join(missing)}")
    agent_id, items = document["agent_id"], document["events"]
    if not isinstance(agent_id, str) or not is_agent_id(agent_id):
        raise Unprocessable(f"agent_id must be a string matching {AGENT_ID_PATTERN}")
    if not isinstance(items, list):
        raise Unprocessable("events must be a list")
    if len(items) > MAX_EVENTS:
        raise Unprocessable(f"too many events: {len(items)} (at most {MAX_EVENTS} per batch)")
    return agent_id, items


def _accept(batch: ParsedBatch, index: int, event: Event) -> None:
    problem = _problem(batch.agent_id, event)
    if problem is None:
        batch.events.append(event)
    else:
        batch.rejected.append(Rejected(index=index, event_id=event.event_id, reason=problem))


def _problem(agent_id: str, event: Event) -> str | None:
    """Rules the wire model cannot state alone; None if the event is fine."""
    if event.agent_id != agent_id:
        return f"agent_id {event.agent_id!r} differs from the batch's {agent_id!r}"
    return None


def _event_id(item: Any) -> str | None:
    if isinstance(item, dict):
        event_id = item.get("event_id")
        if isinstance(event_id, str):
            return event_id[:200]
    return None


def _reason(exc: ValidationError) -> str:
    """``field: message`` per error, e.g. ``seq: Input should be a valid integer``."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"])
        parts.append(f"{location}: {error['msg']}" if location else error["msg"])
    return "; ".join(parts)
