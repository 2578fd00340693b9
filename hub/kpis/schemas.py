"""KPI shapes: a distribution (count, p50, p90) per figure, per site and area."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class Distribution(BaseModel):
    count: int
    p50: float | None
    p90: float | None


class Recurrence(BaseModel):
    rule: str
    tag: str | None
    occurrences: int


class AlarmLoad(BaseModel):
    """ISA-18.2 alarm-load figures; one operator position per area is assumed."""

    alarms: int
    """Alarm raises in the window."""
    per_operator_per_10min_avg: float
    """ISA-18.2 target: about 1 (at most 2 is manageable)."""
    per_operator_per_10min_max: int
    flood_time_share: float
    """Share of 10-minute intervals with more than 10 raises (target: under 1%)."""
    top10_bad_actor_share: float | None
    """Share of raises from the 10 most frequent alarms (target: 1-5%); null without raises."""
    chattering_alarms: int
    """Alarms raised 3 or more times within one minute."""
    chattering: list[str]
    """``agent_id/rule`` of the chattering alarms (at most 20)."""


class AreaKpis(BaseModel):
    site: str | None
    area: str | None
    approval_latency_seconds: Distribution | None
    escalations: int | None
    time_to_all_notified_seconds: Distribution | None
    """From the occurrence to the moment the run opened its first step, so that every function
    of an opening fan-out had its task or approval (``all_notified_at`` of the run; steps that
    open later, such as an approval after the tasks are done, do not move it)."""
    data_age_at_decision_seconds: Distribution | None
    """The stalest live floor value in each signature's snapshot (inventory and supply left out)."""
    detection_latency_seconds: Distribution
    """Alarm raise: device source time -> received at the hub."""
    bypassed_steps: int | None
    """Required steps that ended skipped (must be 0)."""
    bypass_attempts_refused: int | None
    time_to_resolve_seconds: Distribution | None
    """Governed runs: occurrence -> resolved."""
    recurrence: list[Recurrence]
    """Raises in the window by rule and tag, summed over the area's agents, where more than one
    (most first, at most 20)."""
    runs_with_recurrences: int | None
    alarm_load: AlarmLoad


class KpiReport(BaseModel):
    start: datetime
    end: datetime
    groups: list[AreaKpis]
    unavailable: dict[str, str]
    """Figure -> why it is null (e.g. the governance tables it reads do not exist)."""
