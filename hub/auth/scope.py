"""Object-level scope: which sites and areas a user may see and act on.

An empty list means "all" for that dimension. A scoped dimension admits only objects that name
one of its values: an object with no site (or area) is outside every scoped user's view, so a
missing location hides data rather than exposing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.auth.schemas import User


@dataclass(frozen=True)
class Scope:
    sites: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()

    @classmethod
    def of(cls, user: User) -> Scope:
        return cls(sites=tuple(user.sites), areas=tuple(user.areas))

    @property
    def is_global(self) -> bool:
        return not self.sites and not self.areas

    def allows(self, site: str | None, area: str | None) -> bool:
        if self.sites and site not in self.sites:
            return False
        return not (self.areas and area not in self.areas)

    def sql(
        self, site_column: str = "site", area_column: str = "area"
    ) -> tuple[str, dict[str, Any]]:
        """A WHERE fragment (``TRUE`` when unscoped) and its named parameters
        (``$scope_sites``, ``$scope_areas``)."""
        parts: list[str] = []
        params: dict[str, Any] = {}
        if self.sites:
            parts.append(f"list_contains($scope_sites::VARCHAR[], {site_column})")
            params["scope_sites"] = list(self.sites)
        if self.areas:
            parts.append(f"list_contains($scope_areas::VARCHAR[], {area_column})")
            params["scope_areas"] = list(self.areas)
        return (" AND ".join(parts) or "TRUE"), params


GLOBAL = Scope()
