"""``surveyrouter sandbox``: the bundled REX-compatible exchange on its own, registry and gateway
at the server root, as a partner would reach Dynata's."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from surveyrouter.cli.root import app
from surveyrouter.cli.serve import bind
from surveyrouter.clock import utc_now
from surveyrouter.collector import tune_for_server
from surveyrouter.logging_setup import configure_logging
from surveyrouter.networks.rex.signing import KeyPair
from surveyrouter.sandbox.app import create_sandbox_app
from surveyrouter.sandbox.exchange import (
    DEFAULT_OPPORTUNITIES,
    DEFAULT_SEED,
    SandboxOptions,
    build_sandbox,
)
from surveyrouter.sandbox.journal import JournalError
from surveyrouter.sandbox.outcomes import SurveyEnding, describe_ending, parse_ending
from surveyrouter.server import sandbox_loops
from surveyrouter.settings import http_url
from surveyrouter.store.question_library import load_question_library
from surveyrouter.workers.loops import BackgroundLoops

console = Console()

DEFAULT_PORT = 8001  # beside `surveyrouter serve`'s 8000


@app.command()
def sandbox(
    access_key: Annotated[
        str, typer.Option(help="Access key partners sign API calls and entry links with.")
    ],
    secret_key: Annotated[str, typer.Option(help="Its secret key.", show_default=False)],
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port; 0 picks a free one.")] = DEFAULT_PORT,
    redirect_access_key: Annotated[
        str | None,
        typer.Option(
            help="Access key returns and callbacks are signed with (default: the API key)."
        ),
    ] = None,
    redirect_secret_key: Annotated[
        str | None,
        typer.Option(help="Its secret key (default: the API secret).", show_default=False),
    ] = None,
    partner_return_url: Annotated[
        str | None,
        typer.Option(help="Where respondents go back to (default: the sandbox's own /end page)."),
    ] = None,
    partner_callback_url: Annotated[
        str | None, typer.Option(help="Where each ending is POSTed, signed (default: none).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic market.")] = DEFAULT_SEED,
    opportunities: Annotated[
        int, typer.Option(min=0, max=200_000, help="Opportunities the market starts with.")
    ] = DEFAULT_OPPORTUNITIES,
    interactive: Annotated[
        bool, typer.Option(help="Show prescreen and survey pages to click through.")
    ] = False,
    frozen: Annotated[bool, typer.Option(help="The market never changes by itself.")] = False,
    state: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="Keep the exchange's state in this file and resume from it (default: memory).",
        ),
    ] = None,
    force_outcome: Annotated[
        str | None,
        typer.Option(
            metavar="D.S",
            help="Every simulated client survey ends so: DISPOSITION.STATUS (e.g. 1.0) or "
            "abandoned.",
        ),
    ] = None,
) -> None:
    """Serve the sandbox exchange: Opportunity Registry and Respondent Gateway."""
    try:
        api_keys = _keys(access_key, secret_key, "--access-key", "--secret-key")
        redirect_keys = _redirect_keys(api_keys, redirect_access_key, redirect_secret_key)
        forced = None if force_outcome is None else _outcome(force_outcome)
        if forced is not None and interactive:
            raise ValueError(
                "--force-outcome and --interactive exclude each other: in "
                "interactive mode the person on the survey page picks the ending"
            )
        for name, url in (("--partner-return-url", partner_return_url),
                          ("--partner-callback-url", partner_callback_url)):  # fmt: skip
            if url is not None and not url.startswith(("http://", "https://")):
                raise ValueError(f"{name} must be an http:// or https:// URL, not {url!r}")
    except ValueError as error:
        console.print(f"[red]surveyrouter sandbox: {error}[/red]")
        raise typer.Exit(2) from error
    configure_logging("INFO")
    # Bound before anything is built: the market's links and the printed URLs name the port
    # actually bound (port 0 picks one), and a taken port fails before the market is drawn.
    try:
        listener = bind(host, port)
    except OSError as error:
        console.print(f"[red]cannot listen on {host}:{port}: {error}[/red]")
        raise typer.Exit(1) from error
    base_url = base_url_of(listener)
    options = SandboxOptions(
        api_keys={api_keys.access_key: api_keys.secret_key},
        redirect_keys=redirect_keys,
        base_url=base_url,
        partner_return_url=partner_return_url or f"{base_url}/end",
        partner_callback_url=partner_callback_url,
        seed=seed,
        opportunities=opportunities,
        state_path=state,
        frozen=frozen,
        forced_outcome=forced,
        interactive=interactive,
    )
    try:
        exchange = build_sandbox(options, load_question_library(), utc_now)
    except JournalError as error:
        console.print(f"[red]surveyrouter sandbox: {error}[/red]")
        raise typer.Exit(2) from error
    print_banner(options)
    config = uvicorn.Config(
        create_sandbox_app(exchange), log_config=None, access_log=False, log_level=None
    )
    # The market lives on beside the server (unless --frozen), as an exchange's does.
    tune_for_server()
    market = BackgroundLoops(sandbox_loops(exchange))
    market.start()
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        market.stop()
        exchange.close()


def base_url_of(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return http_url(host, port)


def print_banner(options: SandboxOptions) -> None:
    """Where the sandbox is and whose keys it takes: access keys only, never a secret."""
    table = Table(
        title="surveyrouter sandbox exchange is serving", show_header=False, title_justify="left"
    )
    table.add_column(style="bold")
    table.add_column(style="cyan")
    mode = "interactive pages" if options.interactive else "simulated client surveys"
    if options.forced_outcome is not None:
        forced = options.forced_outcome
        mode += f", every one ending {describe_ending(forced)}"
    rows = [
        ("Registry and gateway", options.base_url),
        ("Entry links", f"{options.base_url}/start"),
        ("Returns to", options.partner_return_url),
        ("Callbacks to", options.partner_callback_url or "(none)"),
        ("API access key", ", ".join(options.api_keys)),
        ("Redirect access key", options.redirect_keys.access_key),
        ("Market", f"{options.opportunities} opportunities, seed {options.seed}"
                   + (", frozen" if options.frozen else "")),
        ("Mode", mode),
    ]  # fmt: skip
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


def _keys(access: str, secret: str, access_name: str, secret_name: str) -> KeyPair:
    if not access.strip() or not secret.strip():
        raise ValueError(f"{access_name} and {secret_name} must not be empty")
    return KeyPair(access, secret)


def _redirect_keys(api: KeyPair, access: str | None, secret: str | None) -> KeyPair:
    if access is None and secret is None:
        return api
    if access is None or secret is None:
        raise ValueError("give both --redirect-access-key and --redirect-secret-key, or neither")
    return _keys(access, secret, "--redirect-access-key", "--redirect-secret-key")


def _outcome(text: str) -> SurveyEnding:
    try:
        return parse_ending(text)
    except ValueError as error:
        raise ValueError(f"--force-outcome: {error}") from error
