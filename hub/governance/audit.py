"""One helper for the governance audit records: located at the run's site and area."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.audit import service as audit
from hub.audit.chain import ChainRecord
from hub.audit.schemas import AuditEntry
from hub.governance.records import Run
from hub.storage import Connection


def record(
    conn: Connection,
    now: datetime,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: int | str,
    run: Run | None,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
    data: Any = None,
    site: str | None = None,
    area: str | None = None,
) -> ChainRecord:
    entry = AuditEntry(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
        reason=reason,
        data={"run_id": run.id, **(data or {})} if run is not None else data,
        site=run.site if run is not None else site,
        area=run.area if run is not None else area,
    )
    [written] = audit.record(conn, [entry], now)
    return written
