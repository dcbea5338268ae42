"""Publisher apps: stored, found by their tokens, changed."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from surveyrouter.domain.apps import App, AppSettingInvalid, Currency, RedirectUrls
from surveyrouter.store.column_types import entered_form
from surveyrouter.store.schema import AppRow


class AppNotFound(LookupError):
    """No app has that id or token."""


def insert_app(session: Session, app: App, at: datetime) -> App:
    """Store a new app and return it with its id. A token another app already uses is refused
    with ``AppSettingInvalid`` naming it (tokens identify apps)."""
    _refuse_taken_tokens(session, app)
    row = AppRow(**_columns(app), created_at=at, updated_at=at)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as error:  # a concurrent insert took a token after our check
        raise AppSettingInvalid("api_token", "another app already uses this token") from error
    return _app(row)


def update_app(session: Session, app: App, at: datetime) -> App:
    """Write ``app``'s settings over the stored app with its id."""
    if app.id is None:
        raise AppNotFound("an app without an id is not stored")
    row = session.get(AppRow, app.id, with_for_update=True)
    if row is None:
        raise AppNotFound(f"no app has id {app.id}")
    _refuse_taken_tokens(session, app)
    for name, value in _columns(app).items():
        setattr(row, name, value)
    row.updated_at = at
    session.flush()
    return _app(row)


def get_app(session: Session, app_id: int) -> App:
    row = session.get(AppRow, app_id)
    if row is None:
        raise AppNotFound(f"no app has id {app_id}")
    return _app(row)


def find_app_by_token(session: Session, api_token: str) -> App | None:
    """The app whose client API token is ``api_token``, if any."""
    found = find_app_by_token_as_changed(session, api_token)
    return found[0] if found is not None else None


def find_app_by_token_as_changed(session: Session, api_token: str) -> tuple[App, datetime] | None:
    """The app whose client API token is ``api_token`` and when it last changed, if any."""
    row = session.scalars(select(AppRow).where(AppRow.api_token == api_token)).first()
    return (_app(row), row.updated_at) if row is not None else None


def list_apps(session: Session) -> list[App]:
    return [_app(row) for row in session.scalars(select(AppRow).order_by(AppRow.id))]


def _refuse_taken_tokens(session: Session, app: App) -> None:
    for setting, column, value in (
        ("api_token", AppRow.api_token, app.api_token),
        ("s2s_token", AppRow.s2s_token, app.s2s_token),
    ):
        holder = session.scalars(select(AppRow.id).where(column == value)).first()
        if holder is not None and holder != app.id:
            raise AppSettingInvalid(setting, "another app already uses this token")


def _columns(app: App) -> dict[str, Any]:
    currency, redirects = app.currency, app.redirects
    return {
        "name": app.name,
        "api_token": app.api_token,
        "secret": app.secret,
        "s2s_token": app.s2s_token,
        "revenue_share": app.revenue_share,
        "currency_factor": currency.factor,
        "currency_bonus_percent": currency.bonus_percent,
        "currency_whole_units": currency.whole_units,
        "currency_symbol": currency.symbol,
        "currency_symbol_is_image": currency.symbol_is_image,
        "default_country": app.default_country,
        "allowed_countries": sorted(app.allowed_countries),
        "client_overrides_allowed": app.client_overrides_allowed,
        "callback_url": app.callback_url,
        "redirect_complete_url": redirects.complete,
        "redirect_screenout_url": redirects.screenout,
        "redirect_start_bonus_url": redirects.start_bonus,
        "redirect_termination_url": redirects.termination,
        "screenout_reward": app.screenout_reward,
        "start_bonus_reward": app.start_bonus_reward,
        "start_bonus_questions": app.start_bonus_questions,
        "leaderboard_enabled": app.leaderboard_enabled,
        # Decimal strings: a JSON number would come back a float.
        "leaderboard_rewards": [str(reward) for reward in app.leaderboard_rewards],
        "colors": list(app.colors),
        "verified": app.verified,
        "ranking_variants": app.ranking_variants,
    }


def _app(row: AppRow) -> App:
    return App(
        id=row.id,
        name=row.name,
        api_token=row.api_token,
        secret=row.secret,
        s2s_token=row.s2s_token,
        revenue_share=entered_form(row.revenue_share),
        currency=Currency(
            factor=entered_form(row.currency_factor),
            bonus_percent=row.currency_bonus_percent,
            whole_units=row.currency_whole_units,
            symbol=row.currency_symbol,
            symbol_is_image=row.currency_symbol_is_image,
        ),
        default_country=row.default_country,
        allowed_countries=frozenset(row.allowed_countries),
        client_overrides_allowed=row.client_overrides_allowed,
        callback_url=row.callback_url,
        redirects=RedirectUrls(
            complete=row.redirect_complete_url,
            screenout=row.redirect_screenout_url,
            start_bonus=row.redirect_start_bonus_url,
            termination=row.redirect_termination_url,
        ),
        screenout_reward=_normal_or_none(row.screenout_reward),
        start_bonus_reward=_normal_or_none(row.start_bonus_reward),
        start_bonus_questions=row.start_bonus_questions,
        leaderboard_enabled=row.leaderboard_enabled,
        leaderboard_rewards=tuple(Decimal(reward) for reward in row.leaderboard_rewards),
        colors=tuple(row.colors),
        verified=row.verified,
        ranking_variants=row.ranking_variants,
    )


def _normal_or_none(amount: Decimal | None) -> Decimal | None:
    return entered_form(amount) if amount is not None else None


def find_app_by_s2s_token(session: Session, s2s_token: str) -> App | None:
    """The app whose server-to-server token is ``s2s_token``, if any (client API §1.2)."""
    row = session.scalars(select(AppRow).where(AppRow.s2s_token == s2s_token)).first()
    return _app(row) if row is not None else None
