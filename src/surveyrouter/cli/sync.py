"""``surveyrouter sync``: the sync workers alone, for deployments that run them apart.

API processes started with ``serve --no-sync`` then only follow the store's change feed. With
the sandbox network on, the sandbox must be reachable: served by a ``serve`` process (its
default URL) or standalone (``SURVEYROUTER_SANDBOX_URL``).
"""

from __future__ import annotations

import signal
from types import FrameType

import typer
from rich.console import Console

from surveyrouter.bootstrap import prepared_runtime, sync_targets
from surveyrouter.cli.root import app
from surveyrouter.collector import tune_for_server
from surveyrouter.logging_setup import configure_logging
from surveyrouter.settings import Settings
from surveyrouter.workers.loops import BackgroundLoops
from surveyrouter.workers.sync import sync_loops

console = Console(stderr=True)


@app.command()
def sync() -> None:
    """Keep every enabled network's opportunities in the store current, until stopped."""
    settings = Settings()
    configure_logging(settings.log_level)
    with prepared_runtime(settings) as runtime:
        targets = sync_targets(settings)
        if not targets:
            console.print("[red]no network is enabled: nothing to sync[/red]")
            raise typer.Exit(2)
        loops = BackgroundLoops(sync_loops(runtime, targets))

        def stop(signum: int, frame: FrameType | None) -> None:
            loops.stop_event.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for target in targets:
            console.print(f"syncing [bold]{target.network_id}[/bold] from {target.registry_url}")
        tune_for_server()
        loops.start()
        loops.wait()
        loops.stop()
