"""The ``surveyrouter`` command. Each subcommand is a function registered on ``app``."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from surveyrouter.api import create_app
from surveyrouter.bootstrap import build_runtime, prepare_database
from surveyrouter.domain.targeting import evaluate
from surveyrouter.logging_setup import configure_logging
from surveyrouter.networks.rex.opportunities import InvalidOpportunity, parse_opportunity
from surveyrouter.profile_document import ProfileDocument
from surveyrouter.settings import Settings

app = typer.Typer(help="A self-hosted survey router.", no_args_is_help=True)
console = Console()

URL_PATHS = (("API", "/"), ("Docs", "/docs"), ("Health", "/healthz"), ("Metrics", "/metrics"))


@app.callback()
def main() -> None:
    """A self-hosted survey router: exchange surveys matched to publishers' users."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address [SURVEYROUTER_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port [SURVEYROUTER_PORT].")] = None,
) -> None:
    """Migrate and seed the database, then serve the HTTP API."""
    # Options given on the command line win over the environment; absent ones must not.
    overrides: dict[str, Any] = {"host": host, "port": port}
    settings = Settings(**{name: value for name, value in overrides.items() if value is not None})
    configure_logging(settings.log_level)
    runtime = build_runtime(settings)
    try:
        prepare_database(runtime)
        # Binding before printing makes the printed URLs true: port 0 shows the port it got,
        # and a taken port fails here rather than after the banner.
        try:
            listener = bind(settings.host, settings.port)
        except OSError as error:
            console.print(f"[red]cannot listen on {settings.host}:{settings.port}: {error}[/red]")
            raise typer.Exit(1) from error
        print_urls(listener)
        config = uvicorn.Config(
            create_app(runtime), log_config=None, access_log=False, log_level=None
        )
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        runtime.close()


def bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(address)
    listener.set_inheritable(True)
    return listener


def print_urls(listener: socket.socket) -> None:
    host, port = listener.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    base = f"http://{host}:{port}"
    table = Table(title="surveyrouter is serving", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(style="cyan")
    for label, path in URL_PATHS:
        table.add_row(label, f"{base}{path}")
    console.print(table)


@app.command()
def explain(
    opportunity_file: Annotated[
        Path, typer.Argument(metavar="OPPORTUNITY.json", help="A REX opportunity as sent.")
    ],
    profile_file: Annotated[
        Path, typer.Argument(metavar="PROFILE.json", help="The respondent's profile document.")
    ],
    now: Annotated[
        str | None, typer.Option(help="Evaluation time, ISO 8601 (default: now; naive is UTC).")
    ] = None,
) -> None:
    """Print why a respondent can or cannot take an opportunity, as JSON."""
    try:
        at = _instant(now) if now else datetime.now(UTC)
        opportunity = parse_opportunity(_json_file(opportunity_file, "opportunity"))
        document = ProfileDocument.model_validate(_json_file(profile_file, "profile"))
    except (ValueError, OSError) as error:
        typer.echo(f"surveyrouter explain: {_one_line(error)}", err=True)
        raise typer.Exit(2) from error
    verdict = evaluate(opportunity, document.to_profile(), at, document.known_collections())
    typer.echo(json.dumps(verdict.as_json()))


def _json_file(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_bytes())
    except json.JSONDecodeError as error:
        message = f"{path}: the {what} is not JSON ({error.msg}, line {error.lineno})"
        raise ValueError(message) from error


def _instant(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"--now {text!r} is not an ISO 8601 time") from error
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _one_line(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        return f"profile: {where}: {first['msg']}"
    if isinstance(error, InvalidOpportunity):
        return str(error)
    return str(error).splitlines()[0] if str(error) else type(error).__name__
