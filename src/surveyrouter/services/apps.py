"""Creating, changing and showing publisher apps (the operator's side of an app)."""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.clock import Clock
from surveyrouter.domain.apps import App, AppSettingInvalid
from surveyrouter.domain.callbacks import CallbackTemplateInvalid, check_template
from surveyrouter.services.rewards import check_sendable
from surveyrouter.store.apps import get_app, insert_app, list_apps, update_app
from surveyrouter.store.db import transaction

DEMO_APP_NAME = "Demo app"


# Settings as the CLI and the JSON document name them, and where each lives on an ``App``.
_CURRENCY_SETTINGS = {
    "currency_factor": "factor",
    "currency_bonus_percent": "bonus_percent",
    "currency_whole_units": "whole_units",
    "currency_symbol": "symbol",
    "currency_symbol_is_image": "symbol_is_image",
}
_REDIRECT_SETTINGS = {
    "redirect_complete_url": "complete",
    "redirect_screenout_url": "screenout",
    "redirect_start_bonus_url": "start_bonus",
    "redirect_termination_url": "termination",
}
_TOKEN_SETTINGS = ("api_token", "secret", "s2s_token")
CREDENTIALS = frozenset(_TOKEN_SETTINGS)
"""The settings that are secrets: the activity log names them as rotated, never their values."""
_APP_SETTINGS = tuple(
    f.name
    for f in dataclasses.fields(App)
    if f.name not in ("id", "currency", "redirects", *_TOKEN_SETTINGS)
)
SETTINGS = (*_TOKEN_SETTINGS, *_APP_SETTINGS, *_CURRENCY_SETTINGS, *_REDIRECT_SETTINGS)
"""Every setting an operator may give when creating or updating an app."""


def new_tokens() -> dict[str, str]:
    """Fresh credentials: a UUID API token (as BitLabs issues), a callback secret and an S2S
    token, each unguessable."""
    return {
        "api_token": str(uuid.uuid4()),
        "secret": secrets.token_urlsafe(24),
        "s2s_token": secrets.token_hex(16),
    }


def with_settings(app: App, changes: Mapping[str, Any]) -> App:
    """``app`` with ``changes`` (setting name → value, as in ``SETTINGS``), checked as a whole.

    Raises ``AppSettingInvalid`` for an unknown setting or a value that breaks a rule.
    """
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise AppSettingInvalid(unknown[0], f"unknown setting; known: {', '.join(SETTINGS)}")
    top = {k: v for k, v in changes.items() if k in _TOKEN_SETTINGS or k in _APP_SETTINGS}
    currency = {_CURRENCY_SETTINGS[k]: v for k, v in changes.items() if k in _CURRENCY_SETTINGS}
    redirects = {_REDIRECT_SETTINGS[k]: v for k, v in changes.items() if k in _REDIRECT_SETTINGS}
    template = changes.get("callback_url")
    if template is not None:
        # Refused here, where the operator enters it, not found out on the money path.
        try:
            check_template(template)
            check_sendable(template)
        except CallbackTemplateInvalid as error:
            raise AppSettingInvalid("callback_url", str(error)) from error
    return dataclasses.replace(
        app,
        **top,
        currency=dataclasses.replace(app.currency, **currency),
        redirects=dataclasses.replace(app.redirects, **redirects),
    )


def create_app(
    sessions: sessionmaker[Session],
    clock: Clock,
    settings: Mapping[str, Any],
    *,
    along: Callable[[Session, App], None] | None = None,
) -> App:
    """Create an app from ``settings`` (``name`` required); tokens not given are generated.
    ``along`` writes what goes with the new app (its activity record) in its transaction."""
    if not settings.get("name"):
        raise AppSettingInvalid("name", "is required")
    credentials = {**new_tokens(), **{k: settings[k] for k in _TOKEN_SETTINGS if k in settings}}
    app = with_settings(
        App(name=str(settings["name"]), **credentials),
        {k: v for k, v in settings.items() if k not in _TOKEN_SETTINGS and k != "name"},
    )
    with transaction(sessions) as session:
        created = insert_app(session, app, clock())
        if along is not None:
            along(session, created)
        return created


def change_app(
    sessions: sessionmaker[Session],
    clock: Clock,
    app_id: int,
    changes: Mapping[str, Any],
    *,
    along: Callable[[Session, App, App], None] | None = None,
) -> App:
    """Apply ``changes`` to the stored app ``app_id`` (raises ``AppNotFound``). ``along`` is
    given the app before and after, to write what goes with the change in its transaction."""
    with transaction(sessions) as session:
        before = get_app(session, app_id)
        changed = update_app(session, with_settings(before, changes), clock())
        if along is not None:
            along(session, before, changed)
        return changed


def ensure_demo_app(sessions: sessionmaker[Session], clock: Clock) -> tuple[App, bool]:
    """The first app, created as a demo app when there is none (``serve`` on a fresh
    database); and whether it was created now."""
    with transaction(sessions) as session:
        existing = list_apps(session)
        if existing:
            return existing[0], False
    demo = create_app(
        sessions,
        clock,
        {
            "name": DEMO_APP_NAME,
            "screenout_reward": Decimal("0.02"),
            "start_bonus_reward": Decimal(50),
            "start_bonus_questions": 3,
        },
    )
    return demo, True


def app_document(app: App) -> dict[str, Any]:
    """The app as JSON-ready data, settings named as in ``SETTINGS``; amounts as strings, so
    that no decimal turns into a float on the way."""
    document: dict[str, Any] = {"id": app.id, "name": app.name}
    for name in (*_TOKEN_SETTINGS, *_APP_SETTINGS):
        if name != "name":
            document[name] = _json_value(getattr(app, name))
    for name, attribute in _CURRENCY_SETTINGS.items():
        document[name] = _json_value(getattr(app.currency, attribute))
    for name, attribute in _REDIRECT_SETTINGS.items():
        document[name] = getattr(app.redirects, attribute)
    return document


def changed_settings(before: App, after: App) -> list[str]:
    """The settings (named as in ``SETTINGS``) whose values differ between two versions of
    an app, in ``SETTINGS`` order: what the activity log says an update changed."""
    old, new = app_document(before), app_document(after)
    return [name for name in SETTINGS if old.get(name) != new.get(name)]


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    return value
