"""Rules behind the page-support API: acting for a person at a shared panel, the
communication state of sources and agents, the chain of one occurrence (the planner board is
in ``planner.py``)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from hub.alarms import service as alarms
from hub.alarms.schemas import Alarm, Channel
from hub.audit.schemas import AuditRecord, actor_of
from hub.auth import service as auth
from hub.auth.policy import POLICY, Access
from hub.auth.schemas import User
from hub.auth.scope import Scope
from hub.errors import Forbidden
from hub.pages import repository
from hub.pages.schemas import (
    AgentStatus,
    ChainEntry,
    HmiStatus,
    Me,
    OccurrenceChain,
    SourceState,
    SourceStatus,
    Stage,
)
from hub.storage import Connection, Database
from hub.streams.bus import AlarmBus

SOURCE_LOOKBACK = timedelta(hours=1)
"""How far back comm and health events are read (agents report health every minute)."""
AGENT_SILENT_AFTER = timedelta(minutes=3)
"""An agent that sent nothing for this long is shown as silent (three default health periods)."""


def operations_for(user: User) -> list[str]:
    return sorted(
        op for op, rule in POLICY.items() if rule.access is Access.USER and user.role in rule.roles
    )


async def me(db: Database, user: User) -> Me:
    has_pin = await db.read(lambda cur: auth.has_pin(cur, user.username))
    return Me(
        username=user.username,
        role=user.role,
        sites=list(user.sites),
        areas=list(user.areas),
        has_pin=has_pin,
        operations=operations_for(user),
    )


async def _person_for(
    db: Database, panel: User, alarm: Alarm, person: str, secret: str, operation: str, now: datetime
) -> auth.Identified:
    """The person acting at ``panel`` on ``alarm``: identified, allowed by role and by scope.

    Their ``identity.verified`` record is left to the caller, to commit with the action; a
    person refused here (role, scope) leaves none, as they did nothing.
    """
    identified = await auth.verify_identity(
        db,
        person,
        secret,
        at=actor_of(panel),
        purpose=operation,
        subject=f"alarm:{alarm.id}",
        site=alarm.site,
        area=alarm.area,
        now=now,
    )
    who = identified.user
    if who.role not in POLICY[operation].roles:
        raise Forbidden(f"role {who.role.value!r} of {who.username!r} may not call {operation}")
    if not Scope.of(who).allows(alarm.site, alarm.area):
        raise Forbidden(f"{who.username!r} is not responsible for the area of alarm {alarm.id}")
    return identified


async def ack_on_behalf(
    db: Database,
    bus: AlarmBus,
    panel: User,
    alarm_id: int,
    *,
    person: str,
    secret: str,
    note: str | None,
    now: datetime,
) -> Alarm:
    """Acknowledge as ``person`` (identified by PIN or password) through the panel's session.

    The alarm transition and its audit record name the person; the identification record
    (``identity.verified``, actor the person, ``data.at`` the panel) is committed in the same
    transaction, just before it: both are kept, or neither.

    Raises:
        NotFound: the alarm is not in the panel's scope.
        TooManyAttempts, Unauthorized: see ``hub.auth.service.identify``.
        Forbidden: the person's role or scope does not cover the alarm.
        Unprocessable, Conflict: as ``POST /alarms/{id}/ack``.
    """
    alarm = await alarms.get_alarm(db, alarm_id, Scope.of(panel), now)
    identified = await _person_for(db, panel, alarm, person, secret, "ack_alarm", now)
    who = identified.user
    change = await alarms.acknowledge(
        db,
        bus,
        alarm_id,
        scope=Scope.of(who),
        username=who.username,
        actor=actor_of(who),
        note=note,
        channel=Channel.HMI,
        now=now,
        records=[identified.record],
    )
    return change.alarm


async def shelve_on_behalf(
    db: Database,
    bus: AlarmBus,
    panel: User,
    alarm_id: int,
    *,
    person: str,
    secret: str,
    minutes: int,
    max_minutes: int,
    reason: str,
    now: datetime,
) -> Alarm:
    """Shelve as ``person`` through the panel's session (errors as ``ack_on_behalf``)."""
    alarm = await alarms.get_alarm(db, alarm_id, Scope.of(panel), now)
    identified = await _person_for(db, panel, alarm, person, secret, "shelve_alarm", now)
    who = identified.user
    change = await alarms.shelve(
        db,
        bus,
        alarm_id,
        scope=Scope.of(who),
        actor=actor_of(who),
        minutes=minutes,
        max_minutes=max_minutes,
        reason=reason,
        channel=Channel.HMI,
        now=now,
        records=[identified.record],
    )
    return change.alarm


def _source_state(text: object) -> SourceState:
    if text in ("up", "down", "connecting"):
        return text
    return "unknown"


def comm_status(
    conn: Connection, scope: Scope, now: datetime
) -> tuple[list[AgentStatus], list[SourceStatus]]:
    """Agents and sources in ``scope``: a source's state is the newer of its last comm event and
    the agent's last health event; an agent was last seen at its newest health event or value."""
    since = now - SOURCE_LOOKBACK
    sources: dict[tuple[str, str], SourceStatus] = {}
    seen: dict[str, tuple[datetime, str | None, str | None, str | None]] = {}
    reachable: dict[str, bool | None] = {}

    def saw(agent_id: str, at: datetime, where: tuple[str | None, str | None, str | None]) -> None:
        if agent_id not in seen or at > seen[agent_id][0]:
            seen[agent_id] = (at, *where)

    for health in repository.latest_health(conn, scope, since):
        saw(health.agent_id, health.received_at, (health.site, health.area, health.line))
        flag = health.context.get("hub_reachable")
        reachable[health.agent_id] = flag if isinstance(flag, bool) else None
        for key, value in health.context.items():
            if key.startswith("source."):
                name = key.removeprefix("source.")
                sources[health.agent_id, name] = SourceStatus(
                    agent_id=health.agent_id,
                    source=name,
                    state=_source_state(value),
                    since=health.source_time,
                    reason=None,
                    via="health",
                )
    for comm in repository.latest_comm(conn, scope, since):
        held = sources.get((comm.agent_id, comm.source))
        if held is None or comm.source_time >= held.since:
            sources[comm.agent_id, comm.source] = SourceStatus(
                agent_id=comm.agent_id,
                source=comm.source,
                state="up" if comm.up else "down",
                since=comm.source_time,
                reason=comm.reason,
                via="comm",
            )
    for row in repository.last_values_seen(conn, scope):
        saw(row.agent_id, row.last_seen, (row.site, row.area, row.line))
    agents = []
    for agent_id, (at, site, area, line) in sorted(seen.items()):
        age = (now - at).total_seconds()
        agents.append(
            AgentStatus(
                agent_id=agent_id,
                site=site,
                area=area,
                line=line,
                last_seen=at,
                last_seen_age_seconds=age,
                silent=age > AGENT_SILENT_AFTER.total_seconds(),
                hub_reachable=reachable.get(agent_id),
            )
        )
    return agents, sorted(sources.values(), key=lambda s: (s.agent_id, s.source))


async def hmi_status(
    db: Database, scope: Scope, max_shelve_minutes: int, now: datetime
) -> HmiStatus:
    agents, sources = await db.read(lambda cur: comm_status(cur, scope, now))
    return HmiStatus(
        max_shelve_minutes=max_shelve_minutes,
        note_required=sorted(alarms.NOTE_REQUIRED),
        silent_after_seconds=AGENT_SILENT_AFTER.total_seconds(),
        agents=agents,
        sources=sources,
    )


CHAIN_LIMIT = 2000

_STAGES: tuple[tuple[str, Stage], ...] = (
    ("alarm.raised", "exception"),
    ("run.started", "exception"),
    ("alarm.returned", "outcome"),
    ("run.steps_done", "outcome"),
    ("run.resolved", "outcome"),
    ("alarm.", "response"),
    ("identity.", "response"),
    ("task.", "task"),
    ("approval.", "decision"),
    ("action.", "action"),
    ("constraint.", "action"),
    ("hold.", "action"),
)


def stage_of(action: str) -> Stage:
    for prefix, stage in _STAGES:
        if action == prefix or (prefix.endswith(".") and action.startswith(prefix)):
            return stage
    return "other"


def _audit_record(row: tuple[Any, ...]) -> AuditRecord:
    return AuditRecord(
        seq=row[0],
        at=row[1],
        actor=row[2],
        action=row[3],
        object_type=row[4],
        object_id=row[5],
        site=row[6],
        area=row[7],
        before=json.loads(row[8]),
        after=json.loads(row[9]),
        reason=row[10],
        data=json.loads(row[11]),
        prev_hash=row[12],
        hash=row[13],
    )


async def occurrence_chain(
    db: Database, alarm_id: int, scope: Scope, now: datetime
) -> OccurrenceChain:
    """The audit records of one occurrence, each placed in its plan-to-outcome stage.

    Raises:
        NotFound: no such alarm in the caller's scope.
    """
    await alarms.get_alarm(db, alarm_id, scope, now)

    def query(cur: Connection) -> tuple[list[str], list[tuple[Any, ...]]]:
        runs = repository.runs_of_alarm(cur, alarm_id)
        return runs, repository.occurrence_records(cur, alarm_id, runs, scope, CHAIN_LIMIT + 1)

    run_ids, rows = await db.read(query)
    entries = []
    for row in rows[:CHAIN_LIMIT]:
        record = _audit_record(row)
        entries.append(ChainEntry(stage=stage_of(record.action), record=record))
    return OccurrenceChain(
        alarm_id=alarm_id,
        run_ids=[int(r) for r in run_ids if r.isdigit()],
        entries=entries,
        truncated=len(rows) > CHAIN_LIMIT,
    )
