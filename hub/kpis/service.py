"""KPI rules: which records each figure is read from, and what "per site and area" means.

Every figure counts what happened inside [start, end), keyed by the site and area of its
object. Figures read from the governance tables are null, with the reason in ``unavailable``,
when those tables do not exist in the database.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from hub.auth.scope import Scope
from hub.kpis import repository
from hub.kpis.repository import Dist, Key
from hub.kpis.schemas import AlarmLoad, AreaKpis, Distribution, KpiReport, Recurrence
from hub.storage import Connection, Database

FLOOD_PER_10MIN = 10
"""ISA-18.2: more than 10 alarms in 10 minutes per operator is a flood."""
TOP_RECURRENCES = 20


def _dist(found: dict[Key, Dist] | None, key: Key) -> Distribution | None:
    if found is None:
        return None
    count, p50, p90 = found.get(key, (0, None, None))
    return Distribution(
        count=count,
        p50=None if p50 is None else round(p50, 3),
        p90=None if p90 is None else round(p90, 3),
    )


def _floor_ages(snapshot: Any) -> Iterator[float]:
    """The ``age_seconds`` of each live floor value in a snapshot. Inventory and supply figures
    are left out: an ERP position hours old is normal and would hide how fresh the floor data
    was. A snapshot is ``{"values": [...], "inventory": ..., "supply": ...}``, or a bare list
    of values when stored before inventory and supply joined it."""
    values = snapshot.get("values", []) if isinstance(snapshot, dict) else snapshot
    for value in values if isinstance(values, list) else []:
        age = value.get("age_seconds") if isinstance(value, dict) else None
        if isinstance(age, (int, float)) and not isinstance(age, bool):
            yield float(age)


def _quantiles(values: list[float]) -> Dist:
    if not values:
        return (0, None, None)
    if len(values) == 1:
        return (1, values[0], values[0])
    # The same interpolation as DuckDB's quantile_cont (inclusive linear).
    cuts = statistics.quantiles(values, n=10, method="inclusive")
    return (len(values), statistics.median(values), cuts[8])


def _recurrences(
    alarms: list[tuple[str | None, str | None, str, str, str | None, int]],
) -> list[Recurrence]:
    """Raises of one area summed by rule and tag across its agents: identical lines name their
    alarms alike, and a cause that comes back on another line has still recurred."""
    by_cause: dict[tuple[str, str | None], int] = {}
    for _, _, _, rule, tag, raises in alarms:
        by_cause[rule, tag] = by_cause.get((rule, tag), 0) + raises
    ranked = sorted(by_cause.items(), key=lambda item: (-item[1], item[0][0], item[0][1] or ""))
    return [
        Recurrence(rule=rule, tag=tag, occurrences=count)
        for (rule, tag), count in ranked
        if count > 1
    ][:TOP_RECURRENCES]


def _report(conn: Connection, start: datetime, end: datetime, scope: Scope) -> KpiReport:
    unavailable: dict[str, str] = {}
    missing = repository.missing_tables(conn, repository.GOVERNANCE_TABLES)
    governed = not missing
    if missing:
        reason = f"the governance tables {missing} do not exist in this database"
        for figure in (
            "approval_latency_seconds",
            "escalations",
            "time_to_all_notified_seconds",
            "data_age_at_decision_seconds",
            "bypassed_steps",
            "bypass_attempts_refused",
            "time_to_resolve_seconds",
            "runs_with_recurrences",
        ):
            unavailable[figure] = reason

    detection = repository.detection_latency(conn, start, end)
    by_alarm = repository.raises_by_alarm(conn, start, end)
    buckets = repository.raises_per_10min(conn, start, end)
    chatter = repository.chattering(conn, start, end)
    approvals = repository.approval_latency(conn, start, end) if governed else None
    escalations = repository.escalations(conn, start, end) if governed else None
    refusals = repository.bypass_refusals(conn, start, end) if governed else None
    notified = repository.time_to_all_notified(conn, start, end) if governed else None
    resolved = repository.time_to_resolve(conn, start, end) if governed else None
    bypassed = repository.bypassed_steps(conn, start, end) if governed else None
    recurring_runs = repository.runs_with_recurrences(conn, start, end) if governed else None
    data_age: dict[Key, Dist] | None = None
    if governed:
        ages: dict[Key, list[float]] = {}
        for site, area, snap in repository.signature_snapshots(conn, start, end):
            found = list(_floor_ages(snap))
            if found:
                ages.setdefault((site, area), []).append(max(found))
        data_age = {key: _quantiles(values) for key, values in ages.items()}

    keys: set[Key] = set(detection) | set(buckets) | {(r[0], r[1]) for r in by_alarm}
    for source in (approvals, escalations, refusals, notified, resolved, bypassed, data_age):
        if source:
            keys |= set(source)
    intervals = max(1, math.ceil((end - start).total_seconds() / 600))
    groups = []
    for key in sorted(keys, key=lambda k: (k[0] or "", k[1] or "")):
        if not scope.allows(*key):
            continue
        alarms = [r for r in by_alarm if (r[0], r[1]) == key]
        total = sum(r[5] for r in alarms)
        counts = buckets.get(key, [])
        chattering = [f"{r[2]}/{r[3]}" for r in chatter if (r[0], r[1]) == key]
        top10 = sum(r[5] for r in alarms[:10])
        groups.append(
            AreaKpis(
                site=key[0],
                area=key[1],
                approval_latency_seconds=_dist(approvals, key),
                escalations=None if escalations is None else escalations.get(key, 0),
                time_to_all_notified_seconds=_dist(notified, key),
                data_age_at_decision_seconds=_dist(data_age, key),
                detection_latency_seconds=_dist(detection, key)
                or Distribution(count=0, p50=None, p90=None),
                bypassed_steps=None if bypassed is None else bypassed.get(key, 0),
                bypass_attempts_refused=None if refusals is None else refusals.get(key, 0),
                time_to_resolve_seconds=_dist(resolved, key),
                recurrence=_recurrences(alarms),
                runs_with_recurrences=(
                    None if recurring_runs is None else recurring_runs.get(key, 0)
                ),
                alarm_load=AlarmLoad(
                    alarms=total,
                    per_operator_per_10min_avg=round(total / intervals, 3),
                    per_operator_per_10min_max=max(counts, default=0),
                    flood_time_share=round(
                        sum(1 for c in counts if c > FLOOD_PER_10MIN) / intervals, 4
                    ),
                    top10_bad_actor_share=round(top10 / total, 4) if total else None,
                    chattering_alarms=len(chattering),
                    chattering=chattering[:20],
                ),
            )
        )
    return KpiReport(start=start, end=end, groups=groups, unavailable=unavailable)


async def report(
    db: Database,
    start: datetime,
    end: datetime,
    scope: Scope,
    site: str | None = None,
    area: str | None = None,
) -> KpiReport:
    found = await db.read(lambda cur: _report(cur, start, end, scope))
    if site is not None or area is not None:
        found.groups = [
            g
            for g in found.groups
            if (site is None or g.site == site) and (area is None or g.area == area)
        ]
    return found
