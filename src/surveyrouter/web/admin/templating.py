"""How every dashboard page is rendered: its template, the signed-in operator, the CSRF token
its forms carry, and the security headers an admin page needs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from surveyrouter.domain.operators import OperatorSession
from surveyrouter.web.pages import asset

# Pages of the dashboard are never framed, cached or sent elsewhere as a referrer.
ADMIN_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
NAVIGATION = (
    ("networks", "Networks", "/admin/networks"),
    ("apps", "Apps", "/admin/apps"),
    ("traffic", "Traffic", "/admin/traffic"),
    ("callbacks", "Callbacks", "/admin/callbacks"),
    ("users", "Users", "/admin/users"),
    ("opportunities", "Opportunities", "/admin/opportunities"),
    ("activity", "Activity", "/admin/activity"),
)

_environment = Environment(
    loader=FileSystemLoader(str(resources.files("surveyrouter.web.admin") / "templates")),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _money(value: Decimal | float | int | None) -> str:
    return "" if value is None else f"{Decimal(value):,.2f}"


_environment.filters["when"] = _when
_environment.filters["money"] = _money
_environment.globals["asset"] = asset
_environment.globals["navigation"] = NAVIGATION


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    operator: OperatorSession | None,
    section: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """``template`` with ``context``, the operator, their CSRF token and the current
    section of the navigation; the dashboard's headers on the response."""
    page = _environment.get_template(template).render(
        request=request,
        operator=operator,
        csrf_token=None if operator is None else operator.csrf_token,
        section=section,
        **context,
    )
    return HTMLResponse(page, status_code=status_code, headers=ADMIN_HEADERS)
