"""A signed-in operator's browser for the dashboard's HTTP tests: cookies kept, the CSRF
token read off the page, as a browser would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.services.operators import create_operator
from tests.integration.test_server import HTTP_TIMEOUT, serving

OPERATOR = "ops@example.org"
PASSWORD = "a long operator password"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    """The CSRF token a dashboard page's forms carry."""
    found = _CSRF.search(page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(
    http: httpx.Client, username: str = OPERATOR, password: str = PASSWORD
) -> httpx.Response:
    """Posts the sign-in form as a browser does (its cookie and hidden token first)."""
    form = http.get("/admin/sign-in")
    return http.post(
        "/admin/sign-in",
        data={"csrf_token": csrf_of(form.text), "username": username, "password": password},
    )


@contextmanager
def dashboard(runtime: Runtime) -> Iterator[tuple[httpx.Client, str]]:
    """A served app, an operator signed in to it, and their session's CSRF token."""
    create_operator(runtime.sessions, utc_now, OPERATOR, PASSWORD)
    with (
        serving(create_app(runtime)) as url,
        httpx.Client(timeout=HTTP_TIMEOUT, base_url=url) as http,
    ):
        signed = sign_in(http)
        assert signed.status_code == 303, signed.text
        page = http.get("/admin/networks")
        assert page.status_code == 200, page.text
        yield http, csrf_of(page.text)
