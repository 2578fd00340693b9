"""The data behind a decision: taken when an approval opens and again at each signature (and
when the hub applies a default decision).

Three kinds, each entry with its age at the moment of the snapshot, so a reviewer sees how old
each figure was when someone relied on it:

* ``values``: the live floor values of the run's line (or area, or agent), with quality and
  the device's source time (age: now minus source time);
* ``inventory`` and ``supply``: the positions and supplier commitments outside systems posted
  (``POST /inventory``, ``POST /supply``; age: now minus the sender's ``as_of``). Items are held
  per site and area, not per line: a run's snapshot takes its area's rows and the site-wide
  rows without an area (a central warehouse); a run that names a site but no area takes the
  whole site's; a run that names no site takes none.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hub.external import service as external
from hub.governance import repository
from hub.governance.records import SNAPSHOT_KINDS, Run, Snapshot
from hub.playbooks.model import SnapshotScope
from hub.storage import Connection

__all__ = ["Snapshot", "oldest_age", "take"]


def take(conn: Connection, run: Run, scope: SnapshotScope, now: datetime) -> Snapshot:
    """The run's values, inventory and supply matching ``scope``, each with its age at ``now``."""
    taken: Snapshot = {"values": _values(conn, run, scope, now), "inventory": [], "supply": []}
    if run.site is not None and scope.items:
        taken |= external.snapshot(
            conn, now, site=run.site, area=run.area, patterns=scope.items, limit=scope.max_items
        )
    return taken


def _values(
    conn: Connection, run: Run, scope: SnapshotScope, now: datetime
) -> list[dict[str, Any]]:
    filters: dict[str, str | None]
    if run.line is not None:
        filters = {"site": run.site, "line": run.line}
    elif run.area is not None:
        filters = {"site": run.site, "area": run.area}
    elif run.agent_id is not None:
        filters = {"agent_id": run.agent_id}
    else:
        filters = {"site": run.site}
    rows = repository.snapshot_rows(conn, filters, scope.tags, scope.max_values)
    return [
        {
            "agent_id": agent_id,
            "tag": tag,
            "value": json.loads(value) if value is not None else None,
            "quality": quality,
            "source_time": source_time.isoformat(),
            "received_at": received_at.isoformat(),
            "age_seconds": round((now - source_time).total_seconds(), 3),
        }
        for agent_id, tag, value, quality, source_time, received_at in rows
    ]


def oldest_age(snapshot: Snapshot) -> float | None:
    """The age of the stalest figure of any kind (the KPI "data age at decision" counts floor
    values only: see hub.kpis.service)."""
    ages = [float(entry["age_seconds"]) for kind in SNAPSHOT_KINDS for entry in snapshot[kind]]
    return max(ages) if ages else None
