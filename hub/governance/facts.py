"""The facts a step's ``when:`` reads (hub/playbooks/conditions.py), gathered from the run and
the database at the moment the run reaches the step. A fact that is not known is left out (the
step's ``when_unknown`` then decides)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from hub.constraints import repository as constraints
from hub.governance.records import Run
from hub.plans import repository as plans
from hub.playbooks.conditions import Value
from hub.storage import Connection

RUNOUT_WINDOW = timedelta(minutes=30)
"""How far back the values of the run's tag are read to project when it reaches zero."""
RUNOUT_MIN_POINTS = 3


def runout_at(conn: Connection, run: Run, now: datetime) -> datetime | None:
    """When the run's tag reaches 0 if it keeps falling at the pace of its good values over the
    last ``RUNOUT_WINDOW`` (a least-squares line through them); None when it is not falling,
    or too few values arrived to tell (a silo, a tank, a buffer of parts running down)."""
    if run.agent_id is None or run.tag is None:
        return None
    since = now - RUNOUT_WINDOW
    row = conn.execute(
        "SELECT regr_slope(v, t), regr_intercept(v, t), count(*) FROM ("
        " SELECT epoch(source_time) - epoch($since) AS t,"
        " TRY_CAST(CAST(value AS VARCHAR) AS DOUBLE) AS v FROM events"
        " WHERE agent_id = $agent AND tag = $tag AND quality = 'good'"
        " AND source_time >= $since AND source_time <= $now"
        ") WHERE v IS NOT NULL AND isfinite(v)",
        {"agent": run.agent_id, "tag": run.tag, "since": since, "now": now},
    ).fetchone()
    if row is None:
        return None
    slope, intercept, points = row
    if points < RUNOUT_MIN_POINTS or slope is None or slope >= 0:
        return None
    return since + timedelta(seconds=-intercept / slope)


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
    if "runout_at" in wanted:
        facts["runout_at"] = runout_at(conn, run, now)
    if wanted & {"planned_end", "shift_end"} and run.line is not None:
        window = plans.shift_window(conn, run.site, run.line, now)
        if window is not None:
            facts["planned_end"], facts["shift_end"] = window
    return {name: facts.get(name) for name in wanted}
