"""Pure: an ingest body -> a batch ready for the writer, with all the CPU work done up front.

Everything here runs before the batch reaches the single writer thread (parse, in-batch
de-duplication, the JSON text for the journal and the bulk insert), so that the writer, the
one serial step, does little more than append it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.errors import Forbidden
from hub.ingest.parse import ParsedBatch, parse_batch
from hub.storage.event_json import EventsJson, dump_events
from hub.values import service as values
from protocols.wire import Event


@dataclass(frozen=True)
class Prepared:
    """One batch from one agent, parsed and checked."""

    agent_id: str
    parsed: ParsedBatch
    unique: list[Event]
    """The first event of each event_id, in batch order."""
    doc: EventsJson
    """``unique`` as one JSON text (``hub.storage.event_json``)."""
    received_at: datetime

    @property
    def seqs(self) -> list[int]:
        return [event.seq for event in self.unique]


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
    locations = values.locations_of(unique)
    return Prepared(
        agent_id=agent_id,
        parsed=parsed,
        unique=unique,
        doc=dump_events(agent_id, unique, locations),
        received_at=received_at,
    )
