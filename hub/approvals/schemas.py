"""Approval shapes: the approval with its live-data snapshots and signatures, and the decide
body (the e-signature)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.external.schemas import InventoryView, SupplyView
from hub.governance.assignees import labels
from hub.governance.records import ApprovalRow, SignatureRow, Snapshot
from hub.governance.snapshot import oldest_age
from protocols.wire import Scalar


class SnapshotValue(BaseModel):
    agent_id: str
    tag: str
    value: Scalar
    quality: str
    source_time: datetime
    received_at: datetime
    age_seconds: float
    """Seconds from ``source_time`` to the moment of the snapshot."""


class DecisionSnapshot(BaseModel):
    """The data behind a decision at one moment, each entry with its age then."""

    values: list[SnapshotValue]
    """Live floor values of the run's line (or area)."""
    inventory: list[InventoryView]
    """Inventory positions of the run's area and site-wide ones (``POST /inventory``)."""
    supply: list[SupplyView]
    """Supplier commitments of the run's area and site-wide ones (``POST /supply``)."""

    @classmethod
    def of(cls, snapshot: Snapshot) -> DecisionSnapshot:
        return cls.model_validate(snapshot)


class Signature(BaseModel):
    slot: int
    """Which approver entry was signed for (0-based)."""
    user_id: str
    full_name: str
    decision: Literal["approve", "reject"]
    meaning: str
    reason: str
    signed_at: datetime
    via: str
    evidence_hash: str
    """sha256 of the approval as signed and the snapshot below."""
    record_hash: str
    """sha256 of the signed record (signer, time, meaning, decision, reason, evidence hash)."""
    audit_seq: int
    """The audit record that carries this signature (``GET /audit?object_type=approval``)."""
    snapshot: DecisionSnapshot
    """The data when this signature was given."""
    oldest_age_seconds: float | None
    """The age of the stalest figure of the snapshot, of any kind."""

    @classmethod
    def of(cls, row: SignatureRow) -> Signature:
        return cls(
            slot=row.slot,
            user_id=row.username,
            full_name=row.full_name,
            decision="approve" if row.decision == "approve" else "reject",
            meaning=row.meaning,
            reason=row.reason,
            signed_at=row.signed_at,
            via=row.via,
            evidence_hash=row.evidence_hash,
            record_hash=row.record_hash,
            audit_seq=row.audit_seq,
            snapshot=DecisionSnapshot.of(row.snapshot),
            oldest_age_seconds=oldest_age(row.snapshot),
        )


class Approval(BaseModel):
    id: int
    run_id: int
    step_id: str
    title: str
    meaning: str
    mode: Literal["single", "any_of", "all_of", "sequential"]
    required: bool
    separation_of_duties: bool
    approvers: list[str]
    open_slots: list[int]
    """Approver entries that may still sign (sequential: the current stage)."""
    status: str
    """``pending``, ``approved``, ``rejected`` or ``cancelled``."""
    version: int
    """Rises with each signature and state change; a signature names the version it signed."""
    requested_by: str | None
    default_decision: str | None
    site: str | None
    area: str | None
    line: str | None
    created_at: datetime
    due_at: datetime | None
    reminded_at: datetime | None
    escalation_level: int
    escalated_to: list[str]
    escalated_at: datetime | None
    overdue: bool
    decided_at: datetime | None
    decision_source: str | None
    """``signature`` or ``default`` (applied by the hub after the last deadline)."""
    snapshot: DecisionSnapshot
    """The data when the approval opened (values, inventory, supply), with their age then."""
    signatures: list[Signature]
    can_sign: bool
    via: str | None

    @classmethod
    def of(
        cls,
        row: ApprovalRow,
        signatures: list[SignatureRow],
        open_slots: list[int],
        via: str | None,
    ) -> Approval:
        mode: Literal["single", "any_of", "all_of", "sequential"] = row.mode  # type: ignore[assignment]
        return cls(
            id=row.id,
            run_id=row.run_id,
            step_id=row.step_id,
            title=row.title,
            meaning=row.meaning,
            mode=mode,
            required=row.required,
            separation_of_duties=row.separation_of_duties,
            approvers=[slot.label() for slot in row.slots],
            open_slots=open_slots if row.status == "pending" else [],
            status=row.status,
            version=row.version,
            requested_by=row.requested_by,
            default_decision=row.default_decision,
            site=row.site,
            area=row.area,
            line=row.line,
            created_at=row.created_at,
            due_at=row.due_at,
            reminded_at=row.reminded_at,
            escalation_level=row.escalation_level,
            escalated_to=labels(row.assignees, row.escalation_level),
            escalated_at=row.escalated_at,
            overdue=row.overdue,
            decided_at=row.decided_at,
            decision_source=row.decision_source,
            snapshot=DecisionSnapshot.of(row.snapshot),
            signatures=[Signature.of(s) for s in signatures],
            can_sign=row.status == "pending" and via is not None,
            via=via,
        )


class DecideRequest(BaseModel):
    """An electronic signature: the decision, why, and the signer's password again."""

    model_config = ConfigDict(extra="forbid", strict=True)

    decision: Literal["approve", "reject"]
    reason: str = Field(min_length=1, max_length=2000)
    password: str = Field(min_length=1, max_length=1024)
