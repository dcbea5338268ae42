"""``/admin/apps``: every publisher app, creating one, changing any setting the CLI can set
and rotating an app's credentials.

Settings arrive as text and are read by the same parsers as ``surveyrouter apps``
(``services.app_settings_text``); a refused value re-renders the form with the operator's
typed values and the setting named, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.domain.apps import App, AppSettingInvalid
from surveyrouter.domain.callbacks import unknown_macros
from surveyrouter.domain.operators import ActionKind, OperatorSession, app_subject
from surveyrouter.services.app_settings_text import CLEARABLE, FLAGS, format_setting, parse_setting
from surveyrouter.services.apps import app_document, change_app, create_app, new_tokens
from surveyrouter.services.callers import AppsByToken
from surveyrouter.store.apps import AppNotFound, get_app, list_apps
from surveyrouter.store.column_types import MONEY_SCALE
from surveyrouter.web.admin.activity import record
from surveyrouter.web.admin.auth import AdminProblem, CheckedForm, OperatorDep
from surveyrouter.web.admin.ids import stored_id
from surveyrouter.web.admin.templating import render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Field:
    """One setting's control: ``name`` as ``SETTINGS`` spells it, the label people read, an
    optional hint under it, and what the keyboard should offer."""

    name: str
    label: str
    hint: str = ""
    inputmode: str = "text"
    size: int = 30

    @property
    def flag(self) -> bool:
        return self.name in FLAGS

    @property
    def required(self) -> bool:
        return self.name not in CLEARABLE and not self.flag


def _url(name: str, label: str, hint: str) -> Field:
    return Field(name, label, hint, "url", 60)


GROUPS: tuple[tuple[str, tuple[Field, ...]], ...] = (
    (
        "General",
        (
            Field("name", "Name", "For people: the dashboard and the CLI show it.", size=40),
            Field(
                "revenue_share",
                "Revenue share",
                "The fraction of a survey's payout the publisher earns: more than 0, at most 1.",
                "decimal",
                8,
            ),
            Field(
                "verified",
                "Verified",
                'Unticked, every user of the app is restricted ("app not verified").',
            ),
            Field(
                "client_overrides_allowed",
                "Client overrides allowed",
                "The app's backend may set its user's country, IP and user agent "
                "(client_country, client_ip, client_useragent).",
            ),
            Field(
                "ranking_variants",
                "Ranking variants",
                "0: one ranking; 1 to 100: users split into that many A/B groups.",
                "numeric",
                4,
            ),
        ),
    ),
    (
        "Countries",
        (
            Field(
                "default_country",
                "Default country",
                "ISO 3166-1 alpha-2, e.g. US: a user's country when nothing else tells it.",
                size=4,
            ),
            Field(
                "allowed_countries",
                "Allowed countries",
                "Comma-separated codes, e.g. US, CA; empty: every country.",
                size=40,
            ),
        ),
    ),
    (
        "Currency",
        (
            Field(
                "currency_factor",
                "Currency factor",
                "App currency units per USD the publisher earns.",
                "decimal",
                10,
            ),
            Field(
                "currency_bonus_percent",
                "Currency bonus percent",
                "0 to 1000: rewards raised by this percentage.",
                "numeric",
                6,
            ),
            Field(
                "currency_whole_units",
                "Whole units",
                "Rewards rounded down to whole units; else shown with two decimals.",
            ),
            Field(
                "currency_symbol",
                "Currency symbol",
                "A text, optionally with {value}; or an icon's URL when the next box is ticked.",
                size=40,
            ),
            Field("currency_symbol_is_image", "Symbol is an image URL"),
        ),
    ),
    (
        "Callback and redirects",
        (
            _url(
                "callback_url",
                "Callback URL",
                "Called for every reward, with macros such as [%UID%] and [%VAL%]; "
                "empty: no callbacks.",
            ),
            _url(
                "redirect_complete_url",
                "Redirect after a complete",
                "Empty: our result page.",
            ),
            _url(
                "redirect_screenout_url",
                "Redirect after a screenout",
                "Empty: our result page.",
            ),
            _url(
                "redirect_start_bonus_url",
                "Redirect after the start bonus",
                "Empty: our result page.",
            ),
            _url(
                "redirect_termination_url",
                "Redirect after a termination",
                "Empty: our result page.",
            ),
        ),
    ),
    (
        "Rewards",
        (
            Field(
                "screenout_reward",
                "Screenout reward",
                "USD per rewarded screenout; empty: screenouts pay nothing.",
                "decimal",
                10,
            ),
            Field(
                "start_bonus_reward",
                "Start bonus reward",
                "In app currency units, paid once the questions below are answered; "
                "empty: nothing.",
                "decimal",
                10,
            ),
            Field(
                "start_bonus_questions",
                "Start bonus questions",
                "0 to 50 profile questions a user answers for it; 0: no start bonus.",
                "numeric",
                4,
            ),
            Field("leaderboard_enabled", "Leaderboard enabled"),
            Field(
                "leaderboard_rewards",
                "Leaderboard rewards",
                "Comma-separated, rank 1 first, e.g. 100, 50, 25; empty: none.",
                "decimal",
                40,
            ),
        ),
    ),
    (
        "Look",
        (
            Field(
                "colors",
                "Colours",
                "Comma-separated #rgb or #rrggbb: the accent, then optionally the background.",
                size=30,
            ),
        ),
    ),
)
FIELDS = {field.name: field for _title, fields in GROUPS for field in fields}
EDIT_FIELDS = tuple(FIELDS)
CREATE_FIELDS = (
    "name",
    "revenue_share",
    "currency_factor",
    "currency_symbol",
    "default_country",
    "allowed_countries",
    "callback_url",
    "screenout_reward",
    "verified",
)
CREATE_GROUP = tuple(FIELDS[name] for name in CREATE_FIELDS)

# Kept as typed: a symbol's spaces are part of it ("{value} Points").
_UNSTRIPPED = frozenset({"currency_symbol"})
# What an app's money setting may hold: eight digits before the point, four after
# (domain.apps.MAX_AMOUNT; more is refused here, in the form's words).
_MONEY = frozenset({"revenue_share", "currency_factor", "screenout_reward", "start_bonus_reward"})
_MONEY_LIMIT = Decimal(10) ** (12 - MONEY_SCALE) - Decimal(1).scaleb(-MONEY_SCALE)

NOTICES = {
    "Created": "App created. Give the publisher its API token, secret and S2S token.",
    "Saved": "Saved.",
    "Rotated": (
        "New credentials issued: the old API token, secret and S2S token stopped working. "
        "Give the publisher the new ones below."
    ),
}


@router.get("/admin/apps", response_class=HTMLResponse)
def apps_page(request: Request, runtime: RuntimeDep, operator: OperatorDep) -> HTMLResponse:
    return _list_page(request, runtime, operator, values=_new_app_values())


@router.post("/admin/apps", response_class=HTMLResponse)
def post_app(
    request: Request, runtime: RuntimeDep, operator: OperatorDep, form: CheckedForm
) -> Response:
    def recorded(session: Session, created: App) -> None:
        detail = f"created {created.name!r}"
        record(session, operator, ActionKind.APP_CREATE, app_subject(created), detail)

    try:
        created = create_app(
            runtime.sessions, utc_now, _changes(form, CREATE_FIELDS), along=recorded
        )
    except AppSettingInvalid as error:
        return _list_page(
            request,
            runtime,
            operator,
            values={**_new_app_values(), **_typed(form, CREATE_FIELDS)},
            refused=error,
        )
    return RedirectResponse(f"/admin/apps/{created.id}?notice=Created", 303)


@router.get("/admin/apps/{app_id}", response_class=HTMLResponse)
def app_page(
    request: Request,
    runtime: RuntimeDep,
    operator: OperatorDep,
    app_id: str,
    notice: str | None = None,
) -> HTMLResponse:
    app = _stored(runtime, app_id)
    return _app_page(request, operator, app, values=_values(app), notice=_notice(notice))


@router.post("/admin/apps/{app_id}", response_class=HTMLResponse)
def post_app_settings(
    request: Request, runtime: RuntimeDep, operator: OperatorDep, form: CheckedForm, app_id: str
) -> Response:
    app = _stored(runtime, app_id)

    def recorded(session: Session, before: App, after: App) -> None:
        was, now = _values(before), _values(after)
        names = [name for name in EDIT_FIELDS if was[name] != now[name]]
        if names:
            detail = "changed " + ", ".join(names)
            record(session, operator, ActionKind.APP_UPDATE, app_subject(after), detail)

    try:
        changes = _changes(form, EDIT_FIELDS)
        change_app(runtime.sessions, utc_now, _id(app), changes, along=recorded)
        _forget_cached_apps(request)
    except AppNotFound as error:
        raise AdminProblem(404, _sentence(str(error))) from None
    except AppSettingInvalid as error:
        return _app_page(
            request,
            operator,
            app,
            values={**_values(app), **_typed(form, EDIT_FIELDS)},
            refused=error,
        )
    return RedirectResponse(f"/admin/apps/{_id(app)}?notice=Saved", 303)


@router.post("/admin/apps/{app_id}/rotate", response_class=HTMLResponse)
def post_rotate(
    request: Request, runtime: RuntimeDep, operator: OperatorDep, form: CheckedForm, app_id: str
) -> Response:
    app = _stored(runtime, app_id)
    if form.get("confirm") is None:
        return _app_page(
            request,
            operator,
            app,
            values=_values(app),
            problem="Nothing rotated: tick the box that says the current credentials stop "
            "working, then rotate.",
            status_code=400,
        )

    def recorded(session: Session, before: App, after: App) -> None:
        detail = "rotated the API token, the server-to-server token and the secret"
        record(session, operator, ActionKind.APP_ROTATE, app_subject(after), detail)

    try:
        change_app(runtime.sessions, utc_now, _id(app), new_tokens(), along=recorded)
        _forget_cached_apps(request)
    except AppNotFound as error:
        raise AdminProblem(404, _sentence(str(error))) from None
    except AppSettingInvalid as error:  # a new token another app holds: as good as never
        return _app_page(request, operator, app, values=_values(app), refused=error)
    return RedirectResponse(f"/admin/apps/{_id(app)}?notice=Rotated", 303)


def _forget_cached_apps(request: Request) -> None:
    """This process's offerwall page reads the changed app again at once, not when its kept
    app expires (``SURVEYROUTER_APP_CACHE_SECONDS``). Client API calls, in every process,
    check the kept app on each call anyway (``services.callers.identify``)."""
    cached: AppsByToken | None = getattr(request.app.state, "apps_by_token", None)
    if cached is not None:
        cached.clear()


def _notice(key: str | None) -> str | None:
    """The notice a redirect asked for by name: only one of ours, never text from the URL."""
    return NOTICES.get(key or "")


def _list_page(
    request: Request,
    runtime: Runtime,
    operator: OperatorSession,
    *,
    values: Mapping[str, str | bool],
    refused: AppSettingInvalid | None = None,
) -> HTMLResponse:
    with runtime.sessions() as session:
        apps = list_apps(session)
    return render(
        request,
        "apps.html",
        {
            "apps": apps,
            "fields": CREATE_GROUP,
            "values": values,
            **_refusal(refused),
        },
        operator=operator,
        section="apps",
        status_code=200 if refused is None else 400,
    )


def _app_page(
    request: Request,
    operator: OperatorSession,
    app: App,
    *,
    values: Mapping[str, str | bool],
    refused: AppSettingInvalid | None = None,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int | None = None,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "app": app,
        "groups": GROUPS,
        "values": values,
        "notice": notice,
        "warnings": _warnings(app),
    }
    context.update(_refusal(refused))
    if problem is not None:
        context["problem"] = problem
    return render(
        request,
        "apps_edit.html",
        context,
        operator=operator,
        section="apps",
        status_code=status_code or (200 if refused is None else 400),
    )


def _warnings(app: App) -> dict[str, str]:
    """What the stored settings may get wrong without breaking a rule, by setting."""
    unknown = unknown_macros(app.callback_url or "")
    if not unknown:
        return {}
    # Left as written in every callback: most likely a typo, or another product's macro.
    return {"callback_url": "Macros surveyrouter does not fill: " + ", ".join(unknown)}


def _refusal(refused: AppSettingInvalid | None) -> dict[str, Any]:
    """The page's problem naming the refused setting, and which control to mark invalid."""
    if refused is None:
        return {"problem": None, "invalid": None, "invalid_message": None}
    field = FIELDS.get(refused.setting)
    named = f"{field.label} ({refused.setting})" if field else refused.setting
    return {
        "problem": f"Nothing saved. {named}: {refused.message}",
        "invalid": refused.setting,
        "invalid_message": refused.message,
    }


def _changes(form: FormData, names: Iterable[str]) -> dict[str, Any]:
    """The settings a form posts, parsed as the CLI parses them. A switch left unticked is
    off; a text field the form did not carry at all is left as it is."""
    changes: dict[str, Any] = {}
    for name in names:
        sent = form.get(name)
        if name in FLAGS and sent is None:
            changes[name] = False
            continue
        if sent is None:
            continue
        if not isinstance(sent, str):
            raise AppSettingInvalid(name, "must be text, not a file")
        if any(not character.isprintable() for character in sent):
            raise AppSettingInvalid(name, "must be one line without control characters")
        text = sent if name in _UNSTRIPPED else sent.strip()
        if text == "" and name not in CLEARABLE and name not in FLAGS:
            raise AppSettingInvalid(name, "is required")
        value = parse_setting(name, text)
        if name in _MONEY and value is not None and abs(value) > _MONEY_LIMIT:
            raise AppSettingInvalid(name, f"must be at most {_MONEY_LIMIT:,}")
        changes[name] = value
    return changes


def _typed(form: FormData, names: Iterable[str]) -> dict[str, str | bool]:
    """What the operator typed, to show again in a refused form."""
    typed: dict[str, str | bool] = {}
    for name in names:
        sent = form.get(name)
        if name in FLAGS:
            typed[name] = sent is not None
        elif sent is not None:
            typed[name] = sent if isinstance(sent, str) else ""
    return typed


def _values(app: App) -> dict[str, str | bool]:
    """Every setting of ``app`` as its form shows it."""
    document = app_document(app)
    return {
        name: bool(document[name]) if name in FLAGS else format_setting(name, document[name])
        for name in EDIT_FIELDS
    }


def _new_app_values() -> dict[str, str | bool]:
    """The create form's starting values: an app's defaults, no name."""
    placeholder = "0" * 16
    defaults = App(name="-", api_token=placeholder, secret=placeholder, s2s_token=placeholder)
    return {**_values(defaults), "name": ""}


def _stored(runtime: Runtime, app_id: str) -> App:
    """The app the path names, else the dashboard's 404."""
    # Digits only, within the id column's range: anything else names no app (never a 500).
    number = stored_id(app_id)
    if number is None:
        raise AdminProblem(404, "No such app.")
    try:
        with runtime.sessions() as session:
            return get_app(session, number)
    except AppNotFound as error:
        raise AdminProblem(404, _sentence(str(error))) from None


def _id(app: App) -> int:
    assert app.id is not None  # a stored app
    return app.id


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."
