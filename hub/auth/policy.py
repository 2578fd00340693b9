"""Who may call what: the one table of roles per route.

Every route of the app must appear here: ``tests/hub/test_policy.py`` walks every operation of
the app and fails on one without an entry, and ``require_user`` refuses a route it cannot find.
Object-level scope (sites, areas) is applied on top of this by the services.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hub.auth.schemas import PERSON_ROLES, Role


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


# People: every role but the panel device, which reads its area and acts only for a person.
_EVERY_ROLE = PERSON_ROLES
_PANEL = frozenset({Role.PANEL})
_AREA_READ = _EVERY_ROLE | _PANEL
"""Reads an HMI panel needs (alarms, values, events, source states); scope limits them to
the panel's area like any user's."""
_ACK = frozenset({Role.OPERATOR, Role.MAINTENANCE, Role.PRODUCTION, Role.SUPERVISOR, Role.ADMIN})
_SHELVE = frozenset({Role.OPERATOR, Role.MAINTENANCE, Role.SUPERVISOR, Role.ADMIN})
# Suppression and out-of-service take an alarm away from everyone: only those accountable.
_SUPPRESS = frozenset({Role.SUPERVISOR, Role.ADMIN})
_AUDIT_READ = frozenset({Role.QUALITY, Role.SUPERVISOR, Role.ADMIN})
_AUDIT_VERIFY = frozenset({Role.SUPERVISOR, Role.ADMIN})
_PLAYBOOK_ADMIN = frozenset({Role.SUPERVISOR, Role.ADMIN})
# Operators raise alarms at the panel; starting and closing governed runs is for the functions.
_START_RUN = _EVERY_ROLE - {Role.OPERATOR}
_RESOLVE_RUN = _EVERY_ROLE - {Role.OPERATOR}
# Feeds (issue 6): plans and holds are planners' and quality's; outside systems post with the
# session of a function account; webhook subscriptions carry a secret, so only the accountable.
_PLAN = frozenset({Role.PLANNER, Role.SUPERVISOR, Role.ADMIN})
_HOLD = frozenset({Role.QUALITY, Role.SUPERVISOR, Role.ADMIN})
_END_CONSTRAINT = frozenset(
    {Role.PLANNER, Role.MAINTENANCE, Role.PRODUCTION, Role.SUPERVISOR, Role.ADMIN}
)
_EXTERNAL = _EVERY_ROLE - {Role.OPERATOR, Role.MAINTENANCE}
_WEBHOOK_ADMIN = frozenset({Role.SUPERVISOR, Role.ADMIN})
_WEBHOOK_LOG = frozenset({Role.PLANNER, Role.SUPERVISOR, Role.ADMIN})

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
    "logout": users(_AREA_READ),  # POST /api/v1/auth/logout
    "list_events": users(_AREA_READ),  # GET /api/v1/events
    "list_values": users(_AREA_READ),  # GET /api/v1/values
    "list_alarms": users(_AREA_READ),  # GET /api/v1/alarms
    "stream_alarms": users(_AREA_READ),  # GET /api/v1/alarms/stream (SSE)
    "get_alarm": users(_AREA_READ),  # GET /api/v1/alarms/{alarm_id}
    "alarm_history": users(_AREA_READ),  # GET /api/v1/alarms/{alarm_id}/history
    "ack_alarm": users(_ACK),  # POST /api/v1/alarms/{alarm_id}/ack
    "shelve_alarm": users(_SHELVE),  # POST /api/v1/alarms/{alarm_id}/shelve
    "unshelve_alarm": users(_SHELVE),  # POST /api/v1/alarms/{alarm_id}/unshelve
    "suppress_alarm": users(_SUPPRESS),  # POST /api/v1/alarms/{alarm_id}/suppress
    "unsuppress_alarm": users(_SUPPRESS),  # POST /api/v1/alarms/{alarm_id}/unsuppress
    "remove_alarm_from_service": users(_SUPPRESS),  # POST /api/v1/alarms/{alarm_id}/out-of-service
    "return_alarm_to_service": users(_SUPPRESS),  # POST /api/v1/alarms/{alarm_id}/in-service
    "list_audit": users(_AUDIT_READ),  # GET /api/v1/audit
    "verify_audit": users(_AUDIT_VERIFY),  # GET /api/v1/audit/verify
    # Pages (hub/pages): the HTML shells hold no data, so they are open; their API is not.
    "pages_home": OPEN,  # GET / (redirects to /login)
    "login_page": OPEN,  # GET /login
    "hmi_page": OPEN,  # GET /hmi
    "approvals_page": OPEN,  # GET /approvals
    "planner_page": OPEN,  # GET /planner
    "audit_page": OPEN,  # GET /audit
    "whoami": users(_AREA_READ),  # GET /api/v1/me
    "set_my_pin": users(_EVERY_ROLE),  # PUT /api/v1/me/pin (a panel device has no PIN)
    "hmi_status": users(_AREA_READ),  # GET /api/v1/pages/hmi
    "occurrence_chain": users(_AUDIT_READ),  # GET /api/v1/pages/chain/{alarm_id}
    "planner_board": users(_EVERY_ROLE),  # GET /api/v1/pages/planner
    "stream_planner": users(_EVERY_ROLE),  # GET /api/v1/pages/planner/stream (SSE)
    # A panel's session (or a person's, for someone else at their screen) calls; the person
    # named in the body must hold an _ACK/_SHELVE role. The plain routes above exclude panels.
    "ack_alarm_on_behalf": users(_ACK | _PANEL),  # POST /api/v1/alarms/{alarm_id}/ack-on-behalf
    "shelve_alarm_on_behalf": users(_SHELVE | _PANEL),  # POST .../{alarm_id}/shelve-on-behalf
    # Governance: every role may hold tasks and approvals; the services check assignment,
    # delegation, escalation and separation of duties per object.
    "list_tasks": users(_EVERY_ROLE),  # GET /api/v1/tasks
    "get_task": users(_EVERY_ROLE),  # GET /api/v1/tasks/{task_id}
    "complete_task": users(_EVERY_ROLE),  # POST /api/v1/tasks/{task_id}/complete
    "skip_task": users(_EVERY_ROLE),  # POST /api/v1/tasks/{task_id}/skip
    "list_approvals": users(_EVERY_ROLE),  # GET /api/v1/approvals
    "get_approval": users(_EVERY_ROLE),  # GET /api/v1/approvals/{approval_id}
    "decide_approval": users(_EVERY_ROLE),  # POST /api/v1/approvals/{approval_id}/decide
    "list_delegations": users(_EVERY_ROLE),  # GET /api/v1/delegations
    "create_delegation": users(_EVERY_ROLE),  # POST /api/v1/delegations
    "revoke_delegation": users(_EVERY_ROLE),  # POST /api/v1/delegations/{delegation_id}/revoke
    "list_playbooks": users(_EVERY_ROLE),  # GET /api/v1/playbooks
    "reload_playbooks": users(_PLAYBOOK_ADMIN),  # POST /api/v1/playbooks/reload
    "list_runs": users(_EVERY_ROLE),  # GET /api/v1/runs
    "get_run": users(_EVERY_ROLE),  # GET /api/v1/runs/{run_id}
    "start_run": users(_START_RUN),  # POST /api/v1/runs
    "resolve_run": users(_RESOLVE_RUN),  # POST /api/v1/runs/{run_id}/resolve
    # Feeds (issue 6): plans, holds, constraints, webhooks, external inputs, KPIs.
    "upload_plan": users(_PLAN),  # POST /api/v1/plans (JSON or CSV)
    "list_plans": users(_EVERY_ROLE),  # GET /api/v1/plans
    "change_holds": users(_HOLD),  # POST /api/v1/holds
    "list_holds": users(_EVERY_ROLE),  # GET /api/v1/holds
    "list_constraints": users(_EVERY_ROLE),  # GET /api/v1/constraints
    "stream_constraints": users(_EVERY_ROLE),  # GET /api/v1/constraints/stream (SSE)
    "get_constraint": users(_EVERY_ROLE),  # GET /api/v1/constraints/{constraint_id}
    "end_constraint": users(_END_CONSTRAINT),  # POST /api/v1/constraints/{constraint_id}/end
    "create_webhook": users(_WEBHOOK_ADMIN),  # POST /api/v1/webhooks/subscriptions
    "list_webhooks": users(_WEBHOOK_ADMIN),  # GET /api/v1/webhooks/subscriptions
    "update_webhook": users(_WEBHOOK_ADMIN),  # PATCH /api/v1/webhooks/subscriptions/{id}
    "list_webhook_deliveries": users(_WEBHOOK_LOG),  # GET /api/v1/webhooks/deliveries
    "submit_recommendation": users(_EXTERNAL),  # POST /api/v1/recommendations
    "list_recommendations": users(_EVERY_ROLE),  # GET /api/v1/recommendations
    "post_inventory": users(_EXTERNAL),  # POST /api/v1/inventory
    "list_inventory": users(_EVERY_ROLE),  # GET /api/v1/inventory
    "post_supply": users(_EXTERNAL),  # POST /api/v1/supply
    "list_supply": users(_EVERY_ROLE),  # GET /api/v1/supply
    "get_kpis": users(_EVERY_ROLE),  # GET /api/v1/kpis
}
"""Operation id -> who may call it. The app uses endpoint names as OpenAPI operation ids, so
the published document and this table use the same keys."""


def rule_for(operation_id: str) -> Rule | None:
    return POLICY.get(operation_id)
