"""Pure: the playbook file schema, validated once when a file is loaded.

A playbook matches alarm raises and runs its ``steps`` in order; a ``parallel`` step fans out to
several functions at once and finishes when all of its steps have. Example::

    id: oven-drift
    name: Slow drift on an oven zone
    match: {rules: ["oven-zone*.high", "oven-zone*.low"], categories: [quality]}
    steps:
      - {id: assess, kind: task, title: Assess the drift, assignee: {role: quality}, due: 15min}
      - id: deviation
        kind: approval
        title: Continue under deviation?
        meaning: I approve running the lot under deviation
        approvers: [{role: quality}]
        due: 30min
        escalate_to: [{role: supervisor}]
        default_decision: reject          # hold by default
        on_reject: [{kind: hold_lot, lot_tag: pack.lot, reason: oven drift}]
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from hub.auth.schemas import Role
from hub.playbooks import conditions
from protocols.config import Duration, PathError, StrictConfig, TagName
from protocols.wire import Category, Severity

Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
"""Playbook and step ids: lower case letters, digits, ``-`` and ``_``."""
Glob = Annotated[str, Field(min_length=1, max_length=200)]
PositiveDuration = Annotated[Duration, Field(gt=0)]
ScalarValue = bool | int | float | str
PANEL_REFUSED = (
    "a panel is a shared HMI device, not a person: tasks, approvals and escalations go to a"
    " person's role or to a person"
)


class Assignee(StrictConfig):
    """A role (``{role: quality}``) or one person (``{user: quinn}``).

    The ``panel`` role is refused: a panel is a shared HMI device, not a person, so nobody would
    answer for what it was given (the hub refuses ``{user: ...}`` naming a panel account when it
    loads the playbook: see :func:`hub.governance.runtime.Governance.load`)."""

    role: Role | None = None
    user: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("role")
    @classmethod
    def _a_person(cls, role: Role | None) -> Role | None:
        if role == Role.PANEL:
            raise ValueError(PANEL_REFUSED)
        return role

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.role is None) == (self.user is None):
            raise ValueError("give exactly one of role or user")
        return self

    def label(self) -> str:
        return f"role:{self.role}" if self.role is not None else f"user:{self.user}"


TriggerType = Literal["alarm.raised", "recommendation.received"]


class Match(StrictConfig):
    """Which alarm raises (or recommendations) start a run. Every key given must match; lists
    mean "any of"; globs use ``*`` and ``?``. Keys left out match everything.

    A recommendation (``POST /recommendations``) matches as ``type: recommendation.received``
    with ``rule`` = ``recommendation.<proposed_action>``, ``tag`` = its equipment or lot, and
    its category, severity, site, area and line; ``sources`` matches its source system."""

    types: list[TriggerType] = Field(default=["alarm.raised"], min_length=1)
    categories: list[Category] | None = None
    severities: list[Severity] | None = None
    rules: list[Glob] | None = None
    """The alarm name, e.g. ``press-temperature.hi`` (see edge_agent/rule_config.py)."""
    tags: list[Glob] | None = None
    sites: list[str] | None = None
    areas: list[str] | None = None
    lines: list[str] | None = None
    agents: list[str] | None = None
    sources: list[str] | None = None
    """Source systems of recommendations (``aps``, ``erp``, ``copilot``...)."""


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


ConditionText = Annotated[
    str, Field(min_length=1, max_length=300), AfterValidator(conditions.check)
]
When = Annotated[list[ConditionText], BeforeValidator(_one_or_many), Field(max_length=10)]
"""One condition, or a list that must all hold (hub/playbooks/conditions.py)."""


class _Conditional(StrictConfig):
    when: When = Field(default_factory=list)
    """Open the step only if these hold when the run reaches it, e.g. ``expected_end >
    shift_end``; otherwise the step is recorded as ``not_applicable`` and the run moves on."""
    when_unknown: Literal["run", "skip"] = "run"
    """What a condition that cannot be decided (a fact not known: no plan in force, no expected
    end posted) does: ``run`` opens the step anyway (the safe side for approvals), ``skip``
    treats it as false."""

    @model_validator(mode="after")
    def _unknown_needs_when(self) -> Self:
        if "when_unknown" in self.model_fields_set and not self.when:
            raise PathError("when_unknown", "applies to when: give when as well")
        return self


class _Timed(StrictConfig):
    due: PositiveDuration | None = None
    """From the moment the item opens; none means no deadline (and no escalation)."""
    remind_before: PositiveDuration | None = None
    escalate_to: list[Assignee] = Field(default_factory=list)
    """The escalation chain: at each deadline the next entry may act as well."""
    escalate_every: PositiveDuration | None = None
    """Time given to each escalation level; ``due`` when left out."""

    @model_validator(mode="after")
    def _timing(self) -> Self:
        if self.due is None:
            for key in ("remind_before", "escalate_to", "escalate_every"):
                if key in self.model_fields_set:
                    raise PathError(key, "needs a due time: give due as well")
        elif self.remind_before is not None and self.remind_before >= self.due:
            raise PathError("remind_before", "must be shorter than due")
        return self


class HoldLotAction(StrictConfig):
    """Put a lot on quality hold at every agent of the run's line (``lot_on_hold`` rules there
    then alarm while the line keeps running it)."""

    kind: Literal["hold_lot"]
    lot_tag: TagName | None = None
    """Read the lot from this tag's live value on the run's line."""
    lot: str | None = Field(default=None, min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _lot_source(self) -> Self:
        if (self.lot_tag is None) == (self.lot is None):
            raise ValueError("give exactly one of lot_tag or lot")
        return self


class WriteTagAction(StrictConfig):
    """An approved write to the agent that raised the alarm; the agent refuses tags it does not
    declare writable and says so in its command result."""

    kind: Literal["write_tag"]
    tag: TagName
    value: ScalarValue


class WebhookAction(StrictConfig):
    kind: Literal["webhook"]
    event: str = Field(min_length=1, max_length=200)
    """The event name sent to subscribed planning systems."""


class ConstraintAction(StrictConfig):
    """A floor constraint for planners, in ISA-95 terms."""

    kind: Literal["constraint"]
    status: Literal["available", "reduced", "unavailable", "lot_held"]
    capacity_impact_percent: float | None = Field(default=None, ge=0, le=100)
    reason: str = Field(min_length=1, max_length=500)
    expected_end: PositiveDuration | None = None
    """From the moment the constraint is posted."""
    lot_tag: TagName | None = None
    """Name the lot from this tag's live value on the run's line (for ``lot_held``)."""
    equipment: str | None = Field(default=None, min_length=1, max_length=200)
    """The equipment concerned (default: the run's line). A newer post on the same equipment
    and lot supersedes an open one, so two runs on one line name their own equipment."""


Action = Annotated[
    HoldLotAction | WriteTagAction | WebhookAction | ConstraintAction,
    Field(discriminator="kind"),
]


class TaskStep(_Timed, _Conditional):
    kind: Literal["task"]
    id: Identifier
    title: str = Field(min_length=1, max_length=300)
    instructions: str | None = Field(default=None, max_length=4000)
    assignee: Assignee
    required: bool = True
    """A required task cannot be skipped, and the run cannot be resolved while it is open."""
    reports: list[Literal["expected_end"]] = Field(default_factory=list, max_length=1)
    """What whoever completes the task may report with it: ``expected_end``, when the equipment
    is expected back, which moves the expected end of the run's open reduced/unavailable
    constraints (and so the ``expected_end`` fact of later ``when:`` conditions)."""


class ApprovalStep(_Timed, _Conditional):
    kind: Literal["approval"]
    id: Identifier
    title: str = Field(min_length=1, max_length=300)
    meaning: str = Field(min_length=1, max_length=500)
    """What an approving signature means, recorded with it (e.g. "I release the lot")."""
    mode: Literal["single", "any_of", "all_of", "sequential"] = "single"
    approvers: list[Assignee] = Field(min_length=1)
    """``single``: one entry. ``any_of``: one approval from any entry. ``all_of``: one from each
    entry, by different people. ``sequential``: each entry in order. A rejection always ends it."""
    required: bool = True
    separation_of_duties: bool = True
    """The requester cannot sign, nor can one person sign two entries of one approval."""
    default_decision: Literal["approve", "reject"] | None = None
    """Applied by the hub after the last escalation level times out."""
    on_approve: list[Action] = Field(default_factory=list)
    on_reject: list[Action] = Field(default_factory=list)

    @model_validator(mode="after")
    def _mode(self) -> Self:
        if self.mode == "single" and len(self.approvers) != 1:
            raise PathError("approvers", "mode single takes exactly one entry")
        if self.default_decision is not None and self.due is None:
            raise PathError("default_decision", "needs a due time: give due as well")
        return self


class ConstraintStep(_Conditional):
    kind: Literal["constraint"]
    id: Identifier
    status: Literal["available", "reduced", "unavailable", "lot_held"]
    capacity_impact_percent: float | None = Field(default=None, ge=0, le=100)
    reason: str = Field(min_length=1, max_length=500)
    expected_end: PositiveDuration | None = None
    lot_tag: TagName | None = None
    equipment: str | None = Field(default=None, min_length=1, max_length=200)

    def action(self) -> ConstraintAction:
        return ConstraintAction(
            kind="constraint",
            status=self.status,
            capacity_impact_percent=self.capacity_impact_percent,
            reason=self.reason,
            expected_end=self.expected_end,
            lot_tag=self.lot_tag,
            equipment=self.equipment,
        )


LeafStep = Annotated[TaskStep | ApprovalStep | ConstraintStep, Field(discriminator="kind")]


class ParallelStep(_Conditional):
    """Fan-out: every step opens at once; the step finishes when all of them have. A ``when``
    here decides for all of them (each may have its own as well)."""

    kind: Literal["parallel"]
    id: Identifier
    steps: list[LeafStep] = Field(min_length=1)


Step = Annotated[
    TaskStep | ApprovalStep | ConstraintStep | ParallelStep, Field(discriminator="kind")
]


class SnapshotScope(StrictConfig):
    """The data attached to approvals and decisions (hub/governance/snapshot.py): live values
    of the run's line (or area, if the alarm names no line) whose tag matches ``tags``, and
    the inventory positions and supplier commitments of the run's area (with the site-wide
    ones) whose item matches ``items``."""

    tags: list[Glob] = Field(default=["*"], min_length=1)
    max_values: int = Field(default=50, ge=1, le=500)
    items: list[Glob] = Field(default=["*"])
    """Item globs (``resin*``); an empty list attaches no inventory or supply."""
    max_items: int = Field(default=50, ge=1, le=200)
    """Rows of each kind (positions, commitments)."""


class Playbook(StrictConfig):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    enabled: bool = True
    match: Match
    snapshot: SnapshotScope = Field(default_factory=SnapshotScope)
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_step_ids(self) -> Self:
        seen: dict[str, str] = {}
        for index, step in enumerate(self.steps):
            where = f"steps[{index}]"
            entries = [(f"{where}.id", step.id)]
            if isinstance(step, ParallelStep):
                entries += [(f"{where}.steps[{i}].id", s.id) for i, s in enumerate(step.steps)]
            for path, step_id in entries:
                if step_id in seen:
                    raise PathError(path, f"step id {step_id!r} is already used by {seen[step_id]}")
                seen[step_id] = path
        return self

    def leaf_steps(self) -> list[TaskStep | ApprovalStep | ConstraintStep]:
        leaves: list[TaskStep | ApprovalStep | ConstraintStep] = []
        for step in self.steps:
            leaves.extend(step.steps if isinstance(step, ParallelStep) else [step])
        return leaves

    def people(self) -> list[tuple[str, str]]:
        """(key path, user name) of every ``{user: ...}`` entry: assignees, approvers and
        escalation targets, e.g. ``("steps[0].steps[1].escalate_to[0].user", "sam")``."""
        found: list[tuple[str, str]] = []
        for index, step in enumerate(self.steps):
            if isinstance(step, ParallelStep):
                leaves = [(f"steps[{index}].steps[{i}]", s) for i, s in enumerate(step.steps)]
            else:
                leaves = [(f"steps[{index}]", step)]
            for where, leaf in leaves:
                entries: list[tuple[str, Assignee]] = []
                if isinstance(leaf, TaskStep):
                    entries.append((f"{where}.assignee", leaf.assignee))
                if isinstance(leaf, ApprovalStep):
                    entries += [
                        (f"{where}.approvers[{i}]", a) for i, a in enumerate(leaf.approvers)
                    ]
                if isinstance(leaf, (TaskStep, ApprovalStep)):
                    entries += [
                        (f"{where}.escalate_to[{i}]", a) for i, a in enumerate(leaf.escalate_to)
                    ]
                found += [(f"{path}.user", a.user) for path, a in entries if a.user is not None]
        return found

    def find(self, step_id: str) -> TaskStep | ApprovalStep | ConstraintStep | ParallelStep:
        for step in self.steps:
            if step.id == step_id:
                return step
            if isinstance(step, ParallelStep):
                for child in step.steps:
                    if child.id == step_id:
                        return child
        raise KeyError(step_id)
