"""Pure: an ingest body -> a batch ready for the writer, with all the CPU work done up front.

Everything here runs before the batch reaches the writer (parse, in-batch de-duplication, the
JSON text for the journal), so that the writer, the one serial step, does little more than
append it. It may run in a worker process (``hub.ingest.workers``): a ``Prepared`` is small to
send back, the events as one JSON text and their seqs, and carries the parsed events only when
the writer needs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.errors import Forbidden
from hub.ingest.parse import parse_batch
from hub.storage.event_json import EventsJson, dump_events
from protocols.wire import Event, EventType, Rejected

TRANSACTIONAL = frozenset(
    {
        EventType.ALARM_RAISED,
        EventType.ALARM_CLEARED,
        EventType.ALARM_ACKED,
        EventType.ALARM_SHELVED,
        EventType.ALARM_UNSHELVED,
        EventType.ALARM_FLAG,
        EventType.COMMAND_RESULT,
    }
)
"""Event types whose effects (``alarms.apply_events``, ``commands.apply_results``) commit with
the events themselves."""


@dataclass(frozen=True)
class Prepared:
    """One batch from one agent, parsed and checked."""

    agent_id: str
    received_at: datetime
    seqs: list[int]
    """The seq of each valid event, in batch order (a seq repeated in the batch repeats here)."""
    unique: list[int]
    """The first event of each seq, in batch order: the ones to store."""
    rejected: list[Rejected]
    doc: EventsJson
    """The events of ``unique`` as one JSON text (``hub.storage.event_json``)."""
    transactional: frozenset[int]
    """The seqs of ``unique`` whose type is in ``TRANSACTIONAL``."""
    events: list[Event] | None
    """The events of ``unique`` if ``transactional`` is not empty (their effects are applied
    from them), else None."""


def prepare(body: bytes, agent_id: str, received_at: datetime) -> Prepared:
    """Parse a body sent with ``agent_id``'s token.

    Raises:
        Unprocessable: the body or its envelope is malformed (nothing is stored).
        Forbidden: the batch claims another agent than the token's.
    """
    parsed = parse_batch(body)
    if parsed.agent_id != agent_id:
        raise Forbidden(f"this token may only send events of agent {agent_id!r}")
    # Every valid event has the batch's agent_id (parse checks it), so seq alone is the key.
    first: dict[int, Event] = {}
    for event in parsed.events:
        first.setdefault(event.seq, event)
    unique = list(first.values())
    transactional = frozenset(e.seq for e in unique if e.type in TRANSACTIONAL)
    return Prepared(
        agent_id=agent_id,
        received_at=received_at,
        seqs=[event.seq for event in parsed.events],
        unique=list(first),
        rejected=parsed.rejected,
        doc=dump_events(agent_id, unique),
        transactional=transactional,
        events=unique if transactional else None,
    )
