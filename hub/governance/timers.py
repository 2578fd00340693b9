"""SLA timer rows: each deadline of an item gets a ``deadline`` timer and, if the step asks,
a ``remind`` timer before it. The pump (hub/governance/pump.py) fires them."""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.governance import repository
from hub.playbooks.model import ApprovalStep, TaskStep
from hub.storage import Connection


def schedule(
    conn: Connection,
    target_type: str,
    target_id: int,
    step: TaskStep | ApprovalStep,
    level: int,
    deadline: datetime | None,
    now: datetime,
) -> None:
    """Timers for the deadline of escalation ``level`` (none without a deadline)."""
    if deadline is None:
        return
    if step.remind_before is not None:
        remind_at = deadline - timedelta(seconds=step.remind_before)
        repository.insert_timer(conn, "remind", target_type, target_id, level, remind_at, now)
    repository.insert_timer(conn, "deadline", target_type, target_id, level, deadline, now)


def next_deadline(step: TaskStep | ApprovalStep, previous: datetime) -> datetime:
    """The deadline of the next escalation level, counted from the one that passed (not from
    when the timer fired, so a late pass after a restart does not stretch the chain)."""
    every = step.escalate_every if step.escalate_every is not None else step.due
    assert every is not None
    return previous + timedelta(seconds=every)


def cancel(conn: Connection, target_type: str, target_id: int, now: datetime) -> None:
    repository.cancel_timers(conn, target_type, target_id, now)
