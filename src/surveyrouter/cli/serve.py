"""``surveyrouter serve``: migrate, seed, then serve the HTTP API."""

from __future__ import annotations

import socket
from typing import Annotated, Any
from urllib.parse import urlencode

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from surveyrouter.bootstrap import prepared_runtime
from surveyrouter.cli.root import app
from surveyrouter.clock import utc_now
from surveyrouter.collector import tune_for_server
from surveyrouter.domain.apps import App
from surveyrouter.logging_setup import configure_logging
from surveyrouter.prefork import embedded_sandbox_conflict, serve_workers, uvicorn_config
from surveyrouter.sandbox.journal import JournalError
from surveyrouter.server import build_server
from surveyrouter.services.apps import ensure_demo_app
from surveyrouter.settings import SANDBOX_MOUNT, Settings, http_url

console = Console()

# The user the printed offerwall link opens as: any uid works, each is a new user.
DEMO_WALL_USER = "demo-user"
URL_PATHS = (("API", "/"), ("Docs", "/docs"), ("Health", "/healthz"), ("Metrics", "/metrics"))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address [SURVEYROUTER_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port [SURVEYROUTER_PORT].")] = None,
    sync: Annotated[
        bool | None,
        typer.Option(
            "--sync/--no-sync",
            help="Run the sync workers here [SURVEYROUTER_SYNC_ENABLED]; --no-sync when "
            "`surveyrouter sync` runs them.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="API worker processes on the one socket [SURVEYROUTER_WORKERS]; more than one "
            "needs the sandbox on its own (`surveyrouter sandbox`, SURVEYROUTER_SANDBOX_URL).",
        ),
    ] = None,
) -> None:
    """Migrate and seed the database, then serve the HTTP API, the sandbox and the workers."""
    # Options given on the command line win over the environment; absent ones must not.
    overrides: dict[str, Any] = {
        "host": host,
        "port": port,
        "sync_enabled": sync,
        "workers": workers,
    }
    settings = Settings(**{name: value for name, value in overrides.items() if value is not None})
    configure_logging(settings.log_level)
    if embedded_sandbox_conflict(settings):
        console.print(
            f"[red]--workers {settings.workers}: the embedded sandbox exchange keeps its market "
            "in one process's memory, so it cannot be mounted in several workers. Run it on its "
            "own (`surveyrouter sandbox --port 8100`) and set "
            "SURVEYROUTER_SANDBOX_URL=http://127.0.0.1:8100, or turn it off with "
            "SURVEYROUTER_SANDBOX_ENABLED=false.[/red]"
        )
        raise typer.Exit(2)
    with prepared_runtime(settings) as runtime:
        demo, _created = ensure_demo_app(runtime.sessions, utc_now)
        # Binding before printing makes the printed URLs true: port 0 shows the port it got,
        # and a taken port fails here rather than after the banner.
        try:
            listener = bind(settings.host, settings.port)
        except OSError as error:
            console.print(f"[red]cannot listen on {settings.host}:{settings.port}: {error}[/red]")
            raise typer.Exit(1) from error
        bound_port = listener.getsockname()[1]
        if settings.workers > 1:
            print_urls(listener, first_app=demo, workers=settings.workers)
            serve_workers(runtime, listener)
            return
        try:
            application = build_server(runtime, bound_port)
        except JournalError as error:
            console.print(f"[red]the sandbox exchange cannot start: {error}[/red]")
            raise typer.Exit(1) from error
        print_urls(listener, sandbox=application.state.sandbox is not None, first_app=demo)
        tune_for_server()
        uvicorn.Server(uvicorn_config(application)).run(sockets=[listener])


def bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(address)
    listener.set_inheritable(True)
    return listener


def print_urls(
    listener: socket.socket,
    sandbox: bool = False,
    first_app: App | None = None,
    workers: int = 1,
) -> None:
    host, port = listener.getsockname()[:2]
    base = http_url(host, port)
    paths = [*URL_PATHS, ("Sandbox exchange", SANDBOX_MOUNT)] if sandbox else URL_PATHS
    rows = [(label, f"{base}{path}") for label, path in paths]
    if workers > 1:
        rows.append(("Workers", f"{workers} API processes"))
    if first_app is not None:
        # The token a developer needs for a first client API call; the rest (secret, S2S
        # token) is one `surveyrouter apps show` away, not printed to every log.
        wall = urlencode({"token": first_app.api_token, "uid": DEMO_WALL_USER})
        rows += [
            ("App", f"{first_app.name} (id {first_app.id})"),
            ("API token", first_app.api_token),
            ("Offerwall", f"{base}/offerwall?{wall}"),
        ]
    table = Table(title="surveyrouter is serving", show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(style="cyan", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    # Never cut or fold a URL to fit a narrow terminal (or a log's 80 columns): it would no
    # longer open. A line wider than the terminal wraps there and still copies whole.
    needed = max(len(label) for label, _ in rows) + max(len(value) for _, value in rows) + 7
    Console(width=max(console.width, needed)).print(table)
