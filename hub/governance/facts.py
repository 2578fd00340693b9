"""The facts a step's ``when:`` reads (hub/playbooks/conditions.py), gathered from the run and
the database at the moment the run reaches the step. A fact that is not known is left out (the
step's ``when_unknown`` then decides)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from hub.constraints import repository as constraints
from hub.governance.records import Run
from hub.plans import repository as plans
from hub.playbooks.conditions import Value
from hub.storage import Connection


def gather(conn: Connection, run: Run, names: Iterable[str], now: datetime) -> dict[str, Value]:
    """The facts named in ``names`` that are known now (only those are looked up)."""
    wanted = set(names)
    facts: dict[str, Value] = {
        "severity": run.severity,
        "category": run.category,
        "rule": run.rule,
        "tag": run.tag,
        "site": run.site,
        "area": run.area,
        "line": run.line,
        "agent_id": run.agent_id,
        "trigger": run.trigger,
        "recurrences": float(run.recurrences),
        "now": now,
        "occurred_at": run.occurred_at,
    }
    value = run.context.get("value")
    # A bool is an int to Python, but "value > 0" on a switch would be a surprise: numbers only.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        facts["value"] = float(value)
    for key in ("source_system", "proposed_action"):
        if isinstance(run.context.get(key), str):
            facts[key] = run.context[key]
    if "expected_end" in wanted:
        ends = [
            c.expected_end
            for c in constraints.of_run(conn, run.id)
            if c.ended_at is None and c.expected_end is not None
        ]
        facts["expected_end"] = max(ends) if ends else None
    if wanted & {"planned_end", "shift_end"} and run.line is not None:
        window = plans.shift_window(conn, run.site, run.line, now)
        if window is not None:
            facts["planned_end"], facts["shift_end"] = window
    return {name: facts.get(name) for name in wanted}
