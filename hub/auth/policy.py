"""Who may call what: the one table of roles per route.

Every route of the app must appear here: ``tests/hub/test_policy.py`` walks every operation of
the app and fails on one without an entry, and ``require_user`` refuses a route it cannot find.
Object-level scope (sites, areas) is applied on top of this by the services.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hub.auth.schemas import Role


class Access(Enum):
    OPEN = "open"
    """No token (login, health, metrics, the OpenAPI document)."""
    AGENT = "agent"
    """An agent token."""
    USER = "user"
    """A user session whose role is in ``roles``."""


@dataclass(frozen=True)
class Rule:
    access: Access
    roles: frozenset[Role] = frozenset()


_EVERY_ROLE = frozenset(Role)
_ACK = frozenset({Role.OPERATOR, Role.MAINTENANCE, Role.PRODUCTION, Role.SUPERVISOR, Role.ADMIN})
_SHELVE = frozenset({Role.OPERATOR, Role.MAINTENANCE, Role.SUPERVISOR, Role.ADMIN})
# Suppression and out-of-service take an alarm away from everyone: only those accountable.
_SUPPRESS = frozenset({Role.SUPERVISOR, Role.ADMIN})
_AUDIT_READ = frozenset({Role.QUALITY, Role.SUPERVISOR, Role.ADMIN})
_AUDIT_VERIFY = frozenset({Role.SUPERVISOR, Role.ADMIN})

OPEN = Rule(Access.OPEN)
AGENT = Rule(Access.AGENT)


def users(roles: frozenset[Role]) -> Rule:
    return Rule(Access.USER, roles)


POLICY: dict[str, Rule] = {
    # operation id (the endpoint function's name, unique in the app): who may call it
    "healthz": OPEN,  # GET /healthz
    "metrics": OPEN,  # GET /metrics (counts only; scraped by Prometheus without a session)
    "login": OPEN,  # POST /api/v1/auth/login
    "ingest": AGENT,  # POST /api/v1/ingest
    "list_events": users(_EVERY_ROLE),  # GET /api/v1/events
    "list_values": users(_EVERY_ROLE),  # GET /api/v1/values
    "list_alarms": users(_EVERY_ROLE),  # GET /api/v1/alarms
    "stream_alarms": users(_EVERY_ROLE),  # GET /api/v1/alarms/stream (SSE)
    "get_alarm": users(_EVERY_ROLE),  # GET /api/v1/alarms/{alarm_id}
    "alarm_history": users(_EVERY_ROLE),  # GET /api/v1/alarms/{alarm_id}/history
    "ack_alarm": users(_ACK),  # POST /api/v1/alarms/{alarm_id}/ack
    "shelve_alarm": users(_SHELVE),  # POST /api/v1/alarms/{alarm_id}/shelve
    "unshelve_alarm": users(_SHELVE),  # POST /api/v1/alarms/{alarm_id}/unshelve
    "suppress_alarm": users(_SUPPRESS),  # POST /api/v1/alarms/{alarm_id}/suppress
    "unsuppress_alarm": users(_SUPPRESS),  # POST /api/v1/alarms/{alarm_id}/unsuppress
    "remove_alarm_from_service": users(_SUPPRESS),  # POST /api/v1/alarms/{alarm_id}/out-of-service
    "return_alarm_to_service": users(_SUPPRESS),  # POST /api/v1/alarms/{alarm_id}/in-service
    "list_audit": users(_AUDIT_READ),  # GET /api/v1/audit
    "verify_audit": users(_AUDIT_VERIFY),  # GET /api/v1/audit/verify
}
"""Operation id -> who may call it. The app uses endpoint names as OpenAPI operation ids, so
the published document and this table use the same keys."""


def rule_for(operation_id: str) -> Rule | None:
    return POLICY.get(operation_id)
