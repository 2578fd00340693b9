"""The governance runtime the lifespan owns: the loaded playbooks and the pump loop.

Routes reach it as ``GovernanceDep`` (the lifespan yields it in the request state).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from floorgate.configfile import ConfigError
from hub.audit.schemas import SYSTEM_ACTOR
from hub.auth import repository as users
from hub.auth.schemas import Role
from hub.config import PlaybooksConfig
from hub.deps import Clock
from hub.governance import audit, pump
from hub.playbooks import repository as runs
from hub.playbooks.loader import LoadedPlaybook, load_folder
from hub.playbooks.model import PANEL_REFUSED
from hub.storage import Connection, Database

logger = logging.getLogger(__name__)


@dataclass
class Governance:
    """Args:
    db: the hub's database.
    clock: the hub's clock.
    folder: the playbooks folder (None: no playbooks).
    poll_seconds: the pump loop's period.
    settled: returns once every event acknowledged so far is in the database
        (``IngestWriter.settled``); None: nothing to wait for.
    """

    db: Database
    clock: Clock
    folder: Path | None
    poll_seconds: float
    settled: Callable[[], Awaitable[None]] | None = None
    playbooks: Mapping[str, LoadedPlaybook] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def load(self, actor: str) -> dict[str, LoadedPlaybook]:
        """(Re)load every playbook file and store new versions; all or nothing.

        Raises:
            ConfigError: a file is invalid (the playbooks in force stay as they were).
        """
        loaded = await asyncio.to_thread(load_folder, self.folder) if self.folder else {}
        now = self.clock()

        def store(conn: Connection) -> None:
            _refuse_panels(conn, loaded)
            new = [
                item.playbook.id
                for item in loaded.values()
                if runs.save_version(
                    conn,
                    item.version,
                    item.playbook.id,
                    item.file,
                    item.content,
                    json.dumps(item.playbook.model_dump(mode="json", exclude_unset=True)),
                    now,
                )
            ]
            before = {pid: p.version for pid, p in self.playbooks.items()}
            after = {pid: p.version for pid, p in loaded.items()}
            if before != after:
                audit.record(
                    conn,
                    now,
                    actor=actor,
                    action="playbooks.loaded",
                    object_type="playbooks",
                    object_id=str(self.folder),
                    run=None,
                    before=before,
                    after=after,
                    data={"new_versions": new},
                )

        await self.db.write(store)
        self.playbooks = loaded
        return loaded

    async def catch_up(self, now: datetime | None = None) -> None:
        """Start runs for new raises and recommendations, close answered actions, fire due
        timers."""
        async with self._lock:
            at = now if now is not None else self.clock()
            if self.settled is not None:
                # An alarm commits ahead of the value events journaled before it: runs and their
                # conditions read those values, so they are loaded first.
                await self.settled()
            await pump.scan_triggers(self.db, self.playbooks, at)
            await pump.scan_recommendations(self.db, self.playbooks, at)
            await pump.close_answered_actions(self.db, at)
            await pump.fire_due_timers(self.db, at)

    async def run(self) -> None:
        """The pump loop, until cancelled; a failing pass is logged once, then retried."""
        failing = False
        while True:
            try:
                await self.catch_up()
                if failing:
                    logger.info("governance pump recovered")
                    failing = False
            except Exception:
                if not failing:
                    logger.exception("governance pump pass failed; retrying")
                    failing = True
            await asyncio.sleep(self.poll_seconds)


def _refuse_panels(conn: Connection, loaded: Mapping[str, LoadedPlaybook]) -> None:
    """A ``{user: ...}`` entry naming a panel account (a shared device, not a person) is an
    error in the file, like ``role: panel`` (which check-config refuses without a database).

    Raises:
        ConfigError: naming the file and key path of each such entry.
    """
    panels: dict[str, bool] = {}
    problems: list[tuple[str, str]] = []
    for item in loaded.values():
        for key, username in item.playbook.people():
            if username not in panels:
                row = users.get_user(conn, username)
                panels[username] = row is not None and row.role == Role.PANEL
            if panels[username]:
                where = f"{Path(item.file).name}: {key}"
                problems.append((where, f"{PANEL_REFUSED} ({username!r} is a panel account)"))
    if problems:
        folder = Path(next(iter(loaded.values())).file).parent
        raise ConfigError(folder, problems)


@asynccontextmanager
async def running(
    db: Database,
    clock: Clock,
    config: PlaybooksConfig,
    actor: str = SYSTEM_ACTOR,
    settled: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[Governance]:
    """Load the playbooks (an invalid file stops the hub from starting), catch up on what came
    due while the hub was down, then pump until the hub stops."""
    governance = Governance(db, clock, config.path, config.timer_poll_seconds, settled)
    await governance.load(actor)
    await governance.catch_up()
    task = asyncio.create_task(governance.run(), name="governance-pump")
    try:
        yield governance
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def get_governance(request: Request) -> Governance:
    governance = request.state.governance
    assert isinstance(governance, Governance)
    return governance


GovernanceDep = Annotated[Governance, Depends(get_governance)]
