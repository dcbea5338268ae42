"""What ``surveyrouter serve`` runs in one process: the HTTP app, the embedded sandbox exchange,
this process's matcher kept current from the change feed, and the background loops.
"""

from __future__ import annotations

import logging
import threading
import time

from fastapi import FastAPI

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import SANDBOX, Runtime, sandbox_options, sync_targets
from surveyrouter.clock import Clock, utc_now
from surveyrouter.domain.matcher import Matcher
from surveyrouter.sandbox.exchange import SandboxExchange, build_sandbox
from surveyrouter.services.index_feed import IndexFeed
from surveyrouter.services.recently_parsed import RecentlyParsed
from surveyrouter.store.question_library import load_question_library
from surveyrouter.store.sync_state import get_sync_state
from surveyrouter.workers.callbacks import callback_loop
from surveyrouter.workers.loops import BackgroundLoops, Loop
from surveyrouter.workers.sync import feed_loop, sync_loops

logger = logging.getLogger(__name__)

# How often the sandbox market moves on; each tick applies the changes of the time elapsed.
MARKET_TICK_SECONDS = 30.0


def build_server(runtime: Runtime, port: int, clock: Clock = utc_now) -> FastAPI:
    """The app ``serve`` runs on ``port`` (the one bound), with everything it carries."""
    settings = runtime.settings
    loops: dict[str, Loop] = {}
    sandbox = None
    if settings.sandbox_enabled and not settings.sandbox_url:
        sandbox = embedded_sandbox(runtime, port, clock)
        loops |= sandbox_loops(sandbox)
    try:
        return _assemble(runtime, port, sandbox, loops)
    except BaseException:
        if sandbox is not None:
            sandbox.close()  # its state file stays usable for the next start
        raise


def _assemble(
    runtime: Runtime, port: int, sandbox: SandboxExchange | None, loops: dict[str, Loop]
) -> FastAPI:
    settings = runtime.settings
    # What this process's sync workers parse, its feed need not parse again.
    parsed = RecentlyParsed()
    feed = IndexFeed(Matcher(), runtime.sessions, parsed=parsed)
    started = time.perf_counter()
    applied = feed.catch_up()
    logger.info(
        "matcher built: %d opportunities from %d changes in %.2f s",
        feed.indexed,
        applied,
        time.perf_counter() - started,
    )
    loops |= feed_loop(runtime, feed)
    loops |= callback_loop(runtime)
    if settings.sync_enabled:
        loops |= sync_loops(runtime, sync_targets(settings, port), parsed)
    return create_app(runtime, sandbox=sandbox, feed=feed, background=BackgroundLoops(loops))


def embedded_sandbox(runtime: Runtime, port: int, clock: Clock) -> SandboxExchange:
    """The sandbox exchange mounted in this server, resumed from its own state file.

    A router database that has never synced the sandbox (a fresh database beside an old
    sandbox state file, or a test) would otherwise wait for changes that were already acked
    by a database since thrown away: the sandbox queues its whole market again for it.
    """
    settings = runtime.settings
    sandbox = build_sandbox(sandbox_options(settings, port), load_question_library(), clock)
    with runtime.sessions() as session:
        state = get_sync_state(session, SANDBOX.id)
    if state is None or state.last_success_at is None:
        sandbox.registry.requeue_all(settings.sandbox_access_key)
        logger.info("sandbox: this database never synced it; its whole market is queued again")
    return sandbox


def sandbox_loops(sandbox: SandboxExchange) -> dict[str, Loop]:
    """The sandbox market's own life: other suppliers fill quotas, field times end, new
    opportunities open. A frozen market (``SURVEYROUTER_SANDBOX_FROZEN``) changes nothing."""

    def run(stop: threading.Event) -> None:
        sandbox.simulation.run(stop, MARKET_TICK_SECONDS)

    return {"sandbox-market": run}
