"""Pure: the governed objects as the services handle them (rows in, rows out)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.playbooks.model import Assignee

Chain = list[list[Assignee]]
"""Who may act, by escalation level: level 0 are the assignees; level k the k-th escalation."""

Snapshot = dict[str, list[dict[str, Any]]]
"""The data behind a decision, each entry with its ``age_seconds`` at the moment it was taken:
``values`` (live floor values), ``inventory`` (positions) and ``supply`` (supplier
commitments). See hub/governance/snapshot.py."""
SNAPSHOT_KINDS = ("values", "inventory", "supply")


def snapshot_of(stored: Any) -> Snapshot:
    """A stored snapshot in the current shape: rows written before inventory and supply were
    part of it hold a bare list of values."""
    if isinstance(stored, list):
        stored = {"values": stored}
    return {kind: list(stored.get(kind, [])) for kind in SNAPSHOT_KINDS}


def chain_json(chain: Chain) -> str:
    return json.dumps([[a.model_dump(mode="json", exclude_none=True) for a in lv] for lv in chain])


def chain_of(text: str) -> Chain:
    return [[Assignee.model_validate(a) for a in level] for level in json.loads(text)]


@dataclass
class Run:
    id: int
    playbook_id: str
    policy_version: str
    trigger: str
    """``alarm`` (an alarm raise matched) or ``manual`` (a person started it)."""
    alarm_id: int | None
    agent_id: str | None
    rule: str | None
    tag: str | None
    severity: str | None
    category: str | None
    site: str | None
    area: str | None
    line: str | None
    requested_by: str | None
    reason: str | None
    context: dict[str, Any]
    status: str
    """``open`` (steps running), ``steps_done`` (awaiting its outcome), ``resolved``."""
    recurrences: int
    occurred_at: datetime
    created_at: datetime
    all_notified_at: datetime | None = None
    first_decision_at: datetime | None = None
    steps_done_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_code: str | None = None
    resolution_note: str | None = None


@dataclass
class StepState:
    run_id: int
    step_id: str
    parent: str | None
    kind: str
    required: bool
    status: str
    """``active``, ``done``, ``skipped`` or ``cancelled``."""
    outcome: str | None
    started_at: datetime
    finished_at: datetime | None = None


@dataclass
class TaskRow:
    id: int
    run_id: int
    step_id: str
    title: str
    instructions: str | None
    required: bool
    assignees: Chain
    escalation_level: int
    site: str | None
    area: str | None
    line: str | None
    status: str
    """``open``, ``done``, ``skipped`` or ``cancelled``."""
    created_at: datetime
    due_at: datetime | None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    overdue: bool = False
    completed_at: datetime | None = None
    completed_by: str | None = None
    note: str | None = None


@dataclass
class ApprovalRow:
    id: int
    run_id: int
    step_id: str
    title: str
    meaning: str
    mode: str
    required: bool
    separation_of_duties: bool
    slots: list[Assignee]
    assignees: Chain
    """Level 0 is unused for approvals (the slots say who signs); levels 1.. are escalations."""
    escalation_level: int
    requested_by: str | None
    default_decision: str | None
    site: str | None
    area: str | None
    line: str | None
    status: str
    """``pending``, ``approved``, ``rejected`` or ``cancelled``."""
    version: int
    created_at: datetime
    due_at: datetime | None
    snapshot: Snapshot
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    overdue: bool = False
    decided_at: datetime | None = None
    decision_source: str | None = None
    """``signature`` or ``default`` (the hub applied the playbook's default after the timeout)."""


@dataclass
class SignatureRow:
    id: int
    approval_id: int
    slot: int
    username: str
    full_name: str
    decision: str
    meaning: str
    reason: str
    signed_at: datetime
    via: str
    """``assignee``, ``delegation`` or ``escalation``."""
    snapshot: Snapshot
    evidence_hash: str
    record_hash: str
    audit_seq: int


@dataclass
class Delegation:
    id: int
    from_user: str
    role: str
    to_user: str
    starts_at: datetime
    ends_at: datetime
    reason: str | None
    created_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.starts_at <= now < self.ends_at


@dataclass
class Timer:
    id: int
    kind: str
    """``remind`` or ``deadline``."""
    target_type: str
    """``task`` or ``approval``."""
    target_id: int
    level: int
    due_at: datetime


@dataclass
class ActionRow:
    id: int
    run_id: int
    approval_id: int | None
    step_id: str
    kind: str
    decision: str | None
    payload: dict[str, Any]
    agent_id: str | None
    command_id: str | None
    status: str
    """``sent`` (command queued), ``done``, ``failed``, ``recorded`` (kept by the hub)."""
    detail: str | None
    created_at: datetime
    finished_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
