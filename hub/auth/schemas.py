"""Auth shapes: roles, the authenticated user, login request and reply."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Role(StrEnum):
    OPERATOR = "operator"
    MAINTENANCE = "maintenance"
    QUALITY = "quality"
    PRODUCTION = "production"
    PROCUREMENT = "procurement"
    LOGISTICS = "logistics"
    PLANNER = "planner"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    PANEL = "panel"
    """A shared HMI device of an area, not a person: it reads its area and acts only for a
    person who identifies at it with a PIN or password (``.../ack-on-behalf``)."""


PERSON_ROLES = frozenset(Role) - {Role.PANEL}
"""Roles held by people (who act as themselves)."""


class User(BaseModel):
    """An authenticated person; ``sites`` and ``areas`` scope what they may see (later issues)."""

    model_config = ConfigDict(frozen=True)

    username: str
    role: Role
    sites: tuple[str, ...]
    areas: tuple[str, ...]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class LoginReply(BaseModel):
    token: str
    expires_at: datetime
