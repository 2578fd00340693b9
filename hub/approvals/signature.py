"""Pure: the electronic signature record (21 CFR Part 11 style) and its hashes.

The signed record names the signer (user id and full name), the UTC time, the meaning, the
decision and reason, and the approval version it applies to. ``evidence_hash`` covers what the
signer saw (the approval as it stood and the snapshot: live values, inventory, supply);
``record_hash`` covers the record with the evidence hash. The audit record of the signature
carries both, so the signature is bound to the hash chain; the signature row keeps the seq of
that audit record.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from hub.audit.chain import canonical_json, format_time


def _sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def evidence_hash(approval: dict[str, Any], snapshot: dict[str, list[dict[str, Any]]]) -> str:
    return _sha256({"approval": approval, "snapshot": snapshot})


def signed_record(
    *,
    approval_id: int,
    approval_version: int,
    slot: int,
    username: str,
    full_name: str,
    decision: str,
    meaning: str,
    reason: str,
    signed_at: datetime,
    evidence: str,
) -> dict[str, Any]:
    return {
        "approval_id": approval_id,
        "approval_version": approval_version,
        "slot": slot,
        "user_id": username,
        "full_name": full_name,
        "decision": decision,
        "meaning": meaning,
        "reason": reason,
        "signed_at": format_time(signed_at),
        "evidence_hash": evidence,
    }


def record_hash(record: dict[str, Any]) -> str:
    return _sha256(record)
