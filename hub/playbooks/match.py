"""Pure: does an alarm raise, or a recommendation, match a playbook's ``match`` block."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from hub.playbooks.model import Match


@dataclass(frozen=True)
class Trigger:
    """The facts of one alarm raise or recommendation that playbooks match on."""

    type: str
    """``alarm.raised`` or ``recommendation.received``."""
    agent_id: str | None
    rule: str
    tag: str | None
    severity: str | None
    category: str | None
    site: str | None
    area: str | None
    line: str | None
    source_system: str | None = None
    """The system that sent a recommendation (None for an alarm)."""


def _any_glob(patterns: list[str] | None, value: str | None) -> bool:
    if patterns is None:
        return True
    return value is not None and any(fnmatchcase(value, pattern) for pattern in patterns)


def _one_of(allowed: list[str] | None, value: str | None) -> bool:
    return allowed is None or (value is not None and value in allowed)


def matches(match: Match, trigger: Trigger) -> bool:
    return (
        trigger.type in match.types
        and _one_of(
            [str(c) for c in match.categories] if match.categories else None, trigger.category
        )
        and _one_of(
            [str(s) for s in match.severities] if match.severities else None, trigger.severity
        )
        and _any_glob(match.rules, trigger.rule)
        and _any_glob(match.tags, trigger.tag)
        and _one_of(match.sites, trigger.site)
        and _one_of(match.areas, trigger.area)
        and _one_of(match.lines, trigger.line)
        and _one_of(match.agents, trigger.agent_id)
        and _one_of(match.sources, trigger.source_system)
    )
