"""Pure: the HTML shells of the pages, assembled from the package's templates.

A shell holds no data (the scripts fetch it with the session's token), so it is the same for
everyone and is served without a session. Asset URLs carry a digest of the static files, so a
panel that caches hard still picks up a new release.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib import resources
from pathlib import Path
from string import Template

STATIC_URL = "/static"
STATIC_DIR = Path(__file__).with_name("static")
_TEMPLATES = resources.files("hub.pages") / "templates"


@dataclass(frozen=True)
class Page:
    path: str
    title: str
    template: str
    script: str
    nav: bool = True
    """Show the top bar with the page links and the signed-in user."""


PAGES: dict[str, Page] = {
    "login": Page("/login", "Sign in", "login.html", "login.js", nav=False),
    "hmi": Page("/hmi", "Alarms", "hmi.html", "hmi.js"),
    "approvals": Page("/approvals", "Approvals", "approvals.html", "approvals.js"),
    "planner": Page("/planner", "Planner", "planner.html", "planner.js"),
    "audit": Page("/audit", "Audit", "audit.html", "audit.js"),
}

NAV = ("hmi", "approvals", "planner", "audit")
"""Pages linked from the top bar, in this order."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)
"""No inline script or style, nothing from elsewhere: the plant network has no internet, and a
value that slipped into the markup could not run."""

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _template(name: str) -> Template:
    return Template((_TEMPLATES / name).read_text(encoding="utf-8"))


@cache
def asset_version() -> str:
    """A short digest of every static file: changes with any of them."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _nav(current: str) -> str:
    links = []
    for name in NAV:
        page = PAGES[name]
        here = ' aria-current="page"' if name == current else ""
        # data-op: the operation a role needs for the page to be of use (hidden otherwise).
        links.append(
            f'<li><a href="{page.path}" data-page="{name}"{here}>{escape(page.title)}</a></li>'
        )
    return "\n".join(links)


def render(name: str) -> str:
    """The full HTML document of page ``name`` (a key of ``PAGES``)."""
    page = PAGES[name]
    version = asset_version()
    return _template("layout.html").substitute(
        title=escape(page.title),
        page=name,
        static=STATIC_URL,
        version=version,
        script=page.script,
        nav=_nav(name) if page.nav else "",
        topbar="" if page.nav else "hidden",
        body=_template(page.template).substitute(static=STATIC_URL, version=version),
    )
