"""Pure: plan against actual for one line over a shift, as figures and as an SVG chart.

A shift's plan is one or more planned runs (plan entries: a product at a rate, a planned stop at
rate 0); the planned count rises run by run. The projection carries the actual rate of the last
quarter hour over the planned running time left (planned stops add nothing).

The SVG is built here, on the server, from escaped text and numbers only: the page inserts it
as is, and it needs no chart library. Colours are the page's (planned dashed grey, actual solid
blue, projection dotted), with a legend in words, so the chart does not rely on colour alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

Point = tuple[datetime, float]
"""(time, counter value)."""

WIDTH, HEIGHT = 640, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 28, 44


@dataclass(frozen=True)
class PlannedRun:
    start: datetime
    end: datetime
    rate_per_hour: float

    def planned_until(self, at: datetime) -> float:
        """What this run plans to have made by ``at``."""
        seconds = (min(max(at, self.start), self.end) - self.start).total_seconds()
        return self.rate_per_hour * seconds / 3600


@dataclass(frozen=True)
class PlanVsActual:
    start: datetime
    end: datetime
    now: datetime
    plan: tuple[PlannedRun, ...]
    planned_rate_per_hour: float
    """The rate of the run in force at ``now`` (0 outside every run)."""
    planned_total: float
    """What the plan makes over the whole shift."""
    planned_by_now: float
    produced: float
    """Counted since the start of the shift (counter resets are bridged)."""
    rate_per_hour: float | None
    """The actual rate over the last ``rate_window`` (None without two readings in it)."""
    projected_total: float
    """``produced`` plus the actual rate over the planned running time left."""
    shortfall: float
    """``planned_total - projected_total``, never below 0."""
    series: list[Point]
    """Cumulative produced count over the shift."""


def cumulative(readings: Sequence[Point]) -> list[Point]:
    """Counter readings (time order) to the count produced since the first: a reading below
    the one before is a counter reset (or roll-over), and counting goes on from it."""
    series: list[Point] = []
    total = 0.0
    previous: float | None = None
    for at, value in readings:
        if previous is not None:
            total += value - previous if value >= previous else value
        previous = value
        series.append((at, total))
    return series


def plan_vs_actual(
    readings: Sequence[Point],
    *,
    plan: Sequence[PlannedRun],
    now: datetime,
    rate_window_seconds: float = 900.0,
) -> PlanVsActual:
    """Figures for the shift made of ``plan`` (one run at least) seen at ``now`` from counter
    ``readings``."""
    runs = tuple(sorted(plan, key=lambda r: r.start))
    start, end = runs[0].start, max(r.end for r in runs)
    series = cumulative([r for r in readings if start <= r[0] <= now])
    produced = series[-1][1] if series else 0.0
    recent = [p for p in series if (now - p[0]).total_seconds() <= rate_window_seconds]
    rate: float | None = None
    if len(recent) >= 2 and recent[-1][0] > recent[0][0]:
        span = (recent[-1][0] - recent[0][0]).total_seconds()
        rate = (recent[-1][1] - recent[0][1]) / span * 3600
    running_hours_left = sum(
        (r.end - min(max(now, r.start), r.end)).total_seconds() / 3600
        for r in runs
        if r.rate_per_hour > 0
    )
    projected = produced + (rate or 0.0) * running_hours_left
    planned_total = sum(r.planned_until(r.end) for r in runs)
    in_force = [r.rate_per_hour for r in runs if r.start <= now < r.end]
    return PlanVsActual(
        start=start,
        end=end,
        now=now,
        plan=runs,
        planned_rate_per_hour=in_force[0] if in_force else 0.0,
        planned_total=planned_total,
        planned_by_now=sum(r.planned_until(now) for r in runs),
        produced=produced,
        rate_per_hour=rate,
        projected_total=projected,
        shortfall=max(planned_total - projected, 0.0),
        series=series,
    )


def _fmt(value: float) -> str:
    return f"{value:,.0f}"


def _planned_points(figures: PlanVsActual) -> list[Point]:
    """The planned cumulative count at every run boundary (flat across gaps between runs)."""
    points: list[Point] = [(figures.start, 0.0)]
    total = 0.0
    for run in figures.plan:
        points.append((run.start, total))
        total += run.planned_until(run.end)
        points.append((run.end, total))
    return points


def render_svg(
    figures: PlanVsActual, title: str, chart_id: str, *, with_actual: bool = True
) -> str:
    """The chart: planned cumulative line, actual cumulative line, projection to shift end.

    Args:
        chart_id: unique in the page (the SVG's accessible name refers to it).
        with_actual: False when the line has no counter: the plan alone is drawn.
    """
    if with_actual:
        label = (
            f"{escape(title)}: planned {_fmt(figures.planned_total)}, produced"
            f" {_fmt(figures.produced)}, projected {_fmt(figures.projected_total)} at shift"
            f" end, shortfall {_fmt(figures.shortfall)}"
        )
    else:
        label = f"{escape(title)}: planned {_fmt(figures.planned_total)}, no counter"
    ident = escape(chart_id)
    span = max((figures.end - figures.start).total_seconds(), 1.0)
    top = max(figures.planned_total, figures.projected_total, figures.produced, 1.0) * 1.1
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def x(at: datetime) -> float:
        return _LEFT + plot_w * min(max((at - figures.start).total_seconds() / span, 0.0), 1.0)

    def y(count: float) -> float:
        return _TOP + plot_h * (1 - count / top)

    def path(points: Sequence[tuple[float, float]]) -> str:
        return " ".join(
            f"{'M' if i == 0 else 'L'}{px:.1f},{py:.1f}" for i, (px, py) in enumerate(points)
        )

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' class="chart" role="img" aria-labelledby="{ident}">',
        f'<title id="{ident}">{label}</title>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    for i in range(5):  # horizontal grid with counts
        count = top * i / 4
        parts.append(
            f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y(count):.1f}" y2="{y(count):.1f}"'
            ' stroke="#d5d9de" stroke-width="1"/>'
            f'<text x="{_LEFT - 6}" y="{y(count) + 4:.1f}" text-anchor="end" font-size="12"'
            f' fill="#3c4148">{_fmt(count)}</text>'
        )
    for at, anchor in ((figures.start, "start"), (figures.end, "end")):
        parts.append(
            f'<text x="{x(at):.1f}" y="{HEIGHT - _BOTTOM + 18}" text-anchor="{anchor}"'
            f' font-size="12" fill="#3c4148">{at.strftime("%H:%M")}</text>'
        )
    planned = [(x(at), y(count)) for at, count in _planned_points(figures)]
    parts.append(
        f'<path d="{path(planned)}" fill="none" stroke="#4a5058" stroke-width="2"'
        ' stroke-dasharray="8 5"/>'
    )
    if with_actual and figures.series:
        actual = [(x(figures.start), y(0))] + [(x(at), y(v)) for at, v in figures.series]
        parts.append(f'<path d="{path(actual)}" fill="none" stroke="#0b57d0" stroke-width="3"/>')
    if figures.now < figures.end:
        if with_actual:
            projection = [
                (x(figures.now), y(figures.produced)),
                (x(figures.end), y(figures.projected_total)),
            ]
            parts.append(
                f'<path d="{path(projection)}" fill="none" stroke="#0b57d0" stroke-width="2"'
                ' stroke-dasharray="2 4"/>'
            )
        parts.append(
            f'<line x1="{x(figures.now):.1f}" x2="{x(figures.now):.1f}" y1="{_TOP}"'
            f' y2="{HEIGHT - _BOTTOM}" stroke="#17191c" stroke-width="1"/>'
            f'<text x="{x(figures.now) + 4:.1f}" y="{_TOP - 8}" font-size="12" fill="#17191c">'
            f"now {figures.now.strftime('%H:%M')}</text>"
        )
    legend_y = HEIGHT - 10
    if with_actual:
        parts.append(
            f'<text x="{_LEFT}" y="{legend_y}" font-size="12" fill="#17191c">'
            "- - planned   ━ produced   ··· projected</text>"
            f'<text x="{WIDTH - _RIGHT}" y="{legend_y}" text-anchor="end" font-size="12"'
            f' fill="#a3190f">shortfall at shift end: {_fmt(figures.shortfall)}</text>'
        )
    else:
        parts.append(
            f'<text x="{_LEFT}" y="{legend_y}" font-size="12" fill="#17191c">'
            "- - planned (no counter configured for this line)</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
