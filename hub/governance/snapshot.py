"""The live values behind a decision: taken when an approval opens and again at each signature.

Each entry keeps the value, its quality, the device's source time and its age at the moment of
the snapshot, so a reviewer sees how old each figure was when someone relied on it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hub.governance import repository
from hub.governance.records import Run
from hub.playbooks.model import SnapshotScope
from hub.storage import Connection

Snapshot = list[dict[str, Any]]


def take(conn: Connection, run: Run, scope: SnapshotScope, now: datetime) -> Snapshot:
    """Values of the run's line (or area, or agent) matching ``scope``, with their age."""
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
    """The age of the stalest figure (the KPI "data age at decision")."""
    ages = [float(entry["age_seconds"]) for entry in snapshot]
    return max(ages) if ages else None
