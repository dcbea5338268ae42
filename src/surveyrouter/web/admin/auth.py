"""Signing operators in and out, and what every other dashboard route depends on: the
signed-in operator (else a redirect to the sign-in page) and, for every form it posts, the
session's CSRF token."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from surveyrouter.api.client_context import request_ip
from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.domain.operators import OperatorSession
from surveyrouter.services.operators import (
    SESSION_LIFETIME,
    SignInRefused,
    SignInThrottled,
    csrf_matches,
    sign_in,
    sign_out,
    signed_in,
)
from surveyrouter.web.admin.templating import render

router = APIRouter(include_in_schema=False)

SESSION_COOKIE = "sr_admin"
# Before there is a session, the sign-in form is protected by a double-submit cookie.
SIGN_IN_COOKIE = "sr_admin_sign_in"
COOKIE_PATH = "/admin"


class SignInRequired(Exception):
    """No live session: the browser is sent to the sign-in page, and back after it."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class AdminProblem(HTTPException):
    """A refusal shown as a dashboard page (not the API's JSON envelope)."""


def current_operator(request: Request, runtime: RuntimeDep) -> OperatorSession:
    token = request.cookies.get(SESSION_COOKIE, "")
    found = signed_in(runtime.sessions, utc_now, token) if token else None
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return found


OperatorDep = Annotated[OperatorSession, Depends(current_operator)]


async def checked_form(request: Request, operator: OperatorDep) -> FormData:
    """The posted form, once its ``csrf_token`` is the session's (else 403)."""
    form = await request.form()
    sent = form.get("csrf_token")
    if not csrf_matches(operator.csrf_token, sent if isinstance(sent, str) else None):
        raise AdminProblem(403, "The form's CSRF token is missing or wrong: reload the page.")
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def install_admin_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, _to_sign_in)  # type: ignore[arg-type]
    app.add_exception_handler(AdminProblem, _problem_page)  # type: ignore[arg-type]


async def _to_sign_in(request: Request, error: SignInRequired) -> Response:
    return RedirectResponse(f"/admin/sign-in?next={quote(error.next_path, safe='')}", 303)


async def _problem_page(request: Request, error: AdminProblem) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    runtime: Runtime = request.app.state.runtime
    operator = signed_in(runtime.sessions, utc_now, token) if token else None
    response = render(
        request,
        "problem.html",
        {"status": error.status_code, "problem": error.detail},
        operator=operator,
        status_code=error.status_code,
    )
    if error.headers:
        response.headers.update(error.headers)
    return response


@router.get("/admin", response_class=RedirectResponse)
def admin_home(operator: OperatorDep) -> RedirectResponse:
    return RedirectResponse("/admin/networks", 303)


@router.get("/admin/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str = "/admin") -> HTMLResponse:
    return _sign_in_form(request, next_path=next)


@router.post("/admin/sign-in", response_class=HTMLResponse)
async def post_sign_in(request: Request, runtime: RuntimeDep) -> Response:
    form = await request.form()
    next_path = _safe_next(str(form.get("next") or "/admin"))
    sent = form.get("csrf_token")
    if not csrf_matches(
        request.cookies.get(SIGN_IN_COOKIE, ""), sent if isinstance(sent, str) else None
    ) or not request.cookies.get(SIGN_IN_COOKIE):
        return _sign_in_form(
            request,
            next_path=next_path,
            problem="The form's CSRF token is missing or wrong: reload the page and sign in.",
            status_code=403,
        )
    username, password = str(form.get("username") or ""), str(form.get("password") or "")
    try:
        signed = await run_in_threadpool(
            sign_in, runtime.sessions, utc_now, username, password, request_ip(request)
        )
    except SignInThrottled as error:
        response = _sign_in_form(
            request, next_path=next_path, username=username, problem=str(error), status_code=429
        )
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    except SignInRefused:
        return _sign_in_form(
            request,
            next_path=next_path,
            username=username,
            problem="Wrong username or password.",
            status_code=401,
        )
    redirect = RedirectResponse(next_path, 303)
    redirect.set_cookie(
        SESSION_COOKIE,
        signed.token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path=COOKIE_PATH,
        secure=_secure(request, runtime),
        httponly=True,
        samesite="strict",
    )
    redirect.delete_cookie(SIGN_IN_COOKIE, path=COOKIE_PATH)
    return redirect


@router.post("/admin/sign-out", response_class=RedirectResponse)
def post_sign_out(request: Request, runtime: RuntimeDep, form: CheckedForm) -> RedirectResponse:
    sign_out(runtime.sessions, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/admin/sign-in", 303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


def _sign_in_form(
    request: Request,
    *,
    next_path: str,
    username: str = "",
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "sign_in.html",
        {
            "login_csrf": token,
            "next": _safe_next(next_path),
            "username": username,
            "problem": problem,
        },
        operator=None,
        status_code=status_code,
    )
    runtime: Runtime = request.app.state.runtime
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        max_age=3600,
        path=COOKIE_PATH,
        secure=_secure(request, runtime),
        httponly=True,
        samesite="strict",
    )
    return response


def _safe_next(path: str) -> str:
    """Only a dashboard path: never another site (``//evil``, ``https://…``)."""
    if path.startswith("/admin") and not path.startswith("//") and "\\" not in path:
        return path
    return "/admin"


def _secure(request: Request, runtime: Runtime) -> bool:
    """Secure cookies whenever the dashboard is reached over HTTPS (directly or as the public
    URL says, behind a TLS proxy); plain HTTP on a laptop would never send them back."""
    return request.url.scheme == "https" or runtime.settings.base_url().startswith("https://")
