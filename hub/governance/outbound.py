"""What governance hands to the planners' side: constraints and webhook events.

The feeds half of the hub owns the constraint board (``GET /constraints``, SSE) and outbound
webhooks with their delivery log. Until those accept calls from a write transaction, posted
constraints are kept in ``gov_constraints`` and webhook events as ``recorded`` actions; the
functions here are the one place to connect them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.governance import repository
from hub.governance.records import Run
from hub.playbooks.model import ConstraintAction
from hub.storage import Connection


def post_constraint(
    conn: Connection, run: Run, action: ConstraintAction, lot: str | None, now: datetime
) -> int:
    """Record a floor constraint for planners; returns its id."""
    expected_end = (
        now + timedelta(seconds=action.expected_end) if action.expected_end is not None else None
    )
    return repository.insert_constraint(
        conn,
        run.id,
        (run.site, run.area, run.line),
        run.tag,
        action.status,
        action.capacity_impact_percent,
        lot,
        action.reason,
        expected_end,
        now,
    )


WEBHOOK_DETAIL = "recorded for outbound webhooks (delivery belongs to hub/webhooks)"
