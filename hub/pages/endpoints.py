"""HTTP for the pages: the HTML shells and the static files they load (no session needed:
neither holds data; the scripts call the API with the session's token)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from hub.pages.render import PAGE_HEADERS, STATIC_DIR, STATIC_URL, render

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)

_HTML: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/html": {}}, "description": "The page"}
}


def _page(name: str) -> HTMLResponse:
    return HTMLResponse(render(name), headers=PAGE_HEADERS)


@router.get("/", response_class=RedirectResponse, status_code=307)
async def pages_home() -> RedirectResponse:
    """The sign-in page, which sends each role on to its page."""
    return RedirectResponse("/login", status_code=307)


@router.get("/login", responses=_HTML)
async def login_page() -> HTMLResponse:
    return _page("login")


@router.get("/hmi", responses=_HTML)
async def hmi_page() -> HTMLResponse:
    """The alarm panel of an area (1024x600 touch screens and up)."""
    return _page("hmi")


@router.get("/approvals", responses=_HTML)
async def approvals_page() -> HTMLResponse:
    """Tasks and approvals for the user's roles and delegations."""
    return _page("approvals")


@router.get("/planner", responses=_HTML)
async def planner_page() -> HTMLResponse:
    """Live constraints, plan against actual, open decisions per line."""
    return _page("planner")


@router.get("/audit", responses=_HTML)
async def audit_page() -> HTMLResponse:
    """The audit trail with its verify status, and the chain of one occurrence."""
    return _page("audit")


def static_files() -> StaticFiles:
    """The pages' scripts, stylesheet and icons; mount at ``STATIC_URL``."""
    return StaticFiles(directory=STATIC_DIR)


__all__ = ["STATIC_URL", "router", "static_files"]
