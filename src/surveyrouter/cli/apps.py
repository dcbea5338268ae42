"""``surveyrouter apps``: create, list, show and change publisher apps.

Every app setting is an option spelled as the JSON document names it, with dashes
(``--currency-factor 500``, ``--redirect-complete-url URL``); ``--token`` is the API token.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from surveyrouter.bootstrap import prepared_runtime
from surveyrouter.cli.activity import record_command
from surveyrouter.cli.root import app as root
from surveyrouter.clock import utc_now
from surveyrouter.domain.apps import App, AppSettingInvalid
from surveyrouter.domain.callbacks import unknown_macros
from surveyrouter.domain.operators import ActionKind, app_subject
from surveyrouter.services.app_settings_text import FLAGS, parse_setting
from surveyrouter.services.apps import (
    CREDENTIALS,
    SETTINGS,
    app_document,
    change_app,
    changed_settings,
    create_app,
)
from surveyrouter.settings import Settings
from surveyrouter.store.apps import AppNotFound, find_app_by_token, get_app, list_apps

apps = typer.Typer(
    help="Publisher apps: tokens, money, callbacks, redirects.", no_args_is_help=True
)
root.add_typer(apps, name="apps")

_TAKES_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}
_ALIASES = {"token": "api_token"}


_SETTINGS_HELP = (
    "Settings, as options: "
    + ", ".join("--" + ("token" if s == "api_token" else s).replace("_", "-") for s in SETTINGS)
    + ". Switches (--verified, --no-verified …) also take true/false. Lists are comma-separated;"
    " an empty value clears an optional URL or reward."
)


def parse_settings(arguments: list[str]) -> dict[str, Any]:
    """Settings from ``--name value`` / ``--name=value`` / ``--switch`` / ``--no-switch``."""
    settings: dict[str, Any] = {}
    position = 0
    while position < len(arguments):
        argument = arguments[position]
        position += 1
        if not argument.startswith("--"):
            raise AppSettingInvalid(argument, "expected an option such as --name NAME")
        option, has_value, value = argument[2:].partition("=")
        name = option.replace("-", "_")
        negated = name.startswith("no_") and name[3:] in FLAGS
        name = _ALIASES.get(name[3:] if negated else name, name[3:] if negated else name)
        if name not in SETTINGS:
            raise AppSettingInvalid(f"--{option}", "no such setting")
        if name in FLAGS:
            if negated:
                settings[name] = False
                continue
            if not has_value and position < len(arguments) and arguments[position][:2] != "--":
                value, has_value = arguments[position], "="
                position += 1
            settings[name] = _parsed(option, name, value) if has_value else True
            continue
        if not has_value:
            if position >= len(arguments):
                raise AppSettingInvalid(f"--{option}", "needs a value")
            value = arguments[position]
            position += 1
        settings[name] = _parsed(option, name, value)
    return settings


def _parsed(option: str, name: str, text: str) -> Any:
    """``parse_setting``, its refusal naming the option as it was typed."""
    try:
        return parse_setting(name, text)
    except AppSettingInvalid as error:
        raise AppSettingInvalid(f"--{option}", error.message) from None


@apps.command(context_settings=_TAKES_SETTINGS, help=f"Create an app. {_SETTINGS_HELP}")
def create(context: typer.Context) -> None:
    with prepared_runtime(Settings()) as runtime:
        try:
            created = create_app(
                runtime.sessions, utc_now, parse_settings(context.args), along=_record_create
            )
        except AppSettingInvalid as error:
            _fail(_spelled(error))
        _print(created)


def _record_create(session: Session, created: App) -> None:
    detail = f"created {created.name!r}"
    record_command(session, ActionKind.APP_CREATE, app_subject(created), detail)


@apps.command(name="list")
def list_() -> None:
    """List every app."""
    with prepared_runtime(Settings()) as runtime, runtime.sessions() as session:
        found = list_apps(session)
    table = Table("id", "name", "api token", "share", "currency", "verified", "callback")
    for item in found:
        table.add_row(
            str(item.id),
            item.name,
            item.api_token,
            str(item.revenue_share),
            f"{item.currency.factor}/USD",
            "yes" if item.verified else "no",
            item.callback_url or "–",
        )
    Console().print(table)


@apps.command()
def show(
    app_id: Annotated[int | None, typer.Argument(help="The app's id.")] = None,
    token: Annotated[str | None, typer.Option(help="Find the app by API token.")] = None,
) -> None:
    """Print one app as JSON."""
    if (app_id is None) == (token is None):
        _fail("give an app id or --token, one of them")
    with prepared_runtime(Settings()) as runtime, runtime.sessions() as session:
        _print(_find(session, app_id, token))


@apps.command(context_settings=_TAKES_SETTINGS, help=f"Change an app's settings. {_SETTINGS_HELP}")
def update(
    context: typer.Context, app_id: Annotated[int, typer.Argument(help="The app's id.")]
) -> None:
    with prepared_runtime(Settings()) as runtime:
        try:
            changes = parse_settings(context.args)
            if not changes:
                _fail("nothing to change: give settings as options")
            changed = change_app(runtime.sessions, utc_now, app_id, changes, along=_record_update)
        except AppSettingInvalid as error:
            _fail(_spelled(error))
        except AppNotFound as error:
            _fail(str(error))
        _print(changed)


def _record_update(session: Session, before: App, after: App) -> None:
    """New credentials as a rotation (as the dashboard's), the other settings as an update;
    settings given as they were change nothing worth a record."""
    names = changed_settings(before, after)
    rotated = [name for name in names if name in CREDENTIALS]
    updated = [name for name in names if name not in CREDENTIALS]
    if rotated:
        detail = "rotated " + ", ".join(rotated)
        record_command(session, ActionKind.APP_ROTATE, app_subject(after), detail)
    if updated:
        detail = "changed " + ", ".join(updated)
        record_command(session, ActionKind.APP_UPDATE, app_subject(after), detail)


def _find(session: Session, app_id: int | None, token: str | None) -> App:
    try:
        if app_id is not None:
            return get_app(session, app_id)
    except AppNotFound as error:
        _fail(str(error))
    found = find_app_by_token(session, token or "")
    if found is None:
        _fail("no app has that token")
    return found


def _spelled(error: AppSettingInvalid) -> str:
    setting = error.setting
    if not setting.startswith("--") and setting in SETTINGS:
        setting = "--" + ("token" if setting == "api_token" else setting).replace("_", "-")
    return f"{setting}: {error.message}"


def _print(item: App) -> None:
    typer.echo(json.dumps(app_document(item), indent=2, ensure_ascii=False))
    unknown = unknown_macros(item.callback_url or "")
    if unknown:
        # Left as written in every callback: most likely a typo, or a macro of another product.
        typer.echo(
            "warning: the callback URL has macros surveyrouter does not fill: "
            + ", ".join(unknown),
            err=True,
        )


def _fail(message: str) -> NoReturn:
    typer.echo(f"surveyrouter apps: {message}", err=True)
    raise typer.Exit(2)
