"""``serve --workers N``: N API worker processes accepting on one listening socket.

One Python process serves on one core at a time. With several workers each one is a fresh
interpreter (started with ``spawn``, so no locks or connections are inherited half-held) that
builds its own runtime, its own matcher from the change feed, and serves the socket the
supervisor bound; the kernel spreads connections over them. Every worker follows the change
feed and delivers callbacks (the outbox leases each one to one deliverer). The sync workers run
once, in the supervisor, so that no API worker spends its interpreter on them. The embedded
sandbox exchange keeps its market in one process's memory and cannot be shared: with more than
one worker the sandbox runs on its own (``surveyrouter sandbox``, ``SURVEYROUTER_SANDBOX_URL``).

A worker that dies is started again; the supervisor stops them all on SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn
from fastapi import FastAPI

from surveyrouter.bootstrap import Runtime, build_runtime, sync_targets
from surveyrouter.collector import tune_for_server
from surveyrouter.logging_setup import configure_logging
from surveyrouter.server import build_server
from surveyrouter.settings import Settings
from surveyrouter.workers.loops import BackgroundLoops
from surveyrouter.workers.sync import sync_loops

logger = logging.getLogger(__name__)

# A worker that dies sooner than this after starting is restarted only after a pause, so a
# worker that cannot start (a broken database URL) does not spin.
QUICK_EXIT_SECONDS = 10.0
RESTART_PAUSE_SECONDS = 5.0
STOP_TIMEOUT_SECONDS = 20.0


def embedded_sandbox_conflict(settings: Settings) -> bool:
    """Whether ``settings`` would mount the sandbox exchange inside each of several workers."""
    return settings.workers > 1 and settings.sandbox_enabled and not settings.sandbox_url


def uvicorn_config(application: FastAPI) -> uvicorn.Config:
    """How every ``serve`` process runs uvicorn."""
    # proxy_headers off: X-Forwarded-For is read by our own rule (trusted proxies only,
    # SURVEYROUTER_TRUSTED_PROXIES), not also by uvicorn's (which trusts 127.0.0.1).
    return uvicorn.Config(
        application,
        log_config=None,
        access_log=False,
        log_level=None,
        proxy_headers=False,
    )


def serve_workers(runtime: Runtime, listener: socket.socket) -> None:
    """Run ``runtime.settings.workers`` API workers on ``listener`` until SIGINT or SIGTERM,
    and the sync workers here. ``runtime`` is this supervisor's, on a prepared database."""
    settings = runtime.settings
    port = int(listener.getsockname()[1])
    # The workers never sync; this process does, once.
    worker_settings = settings.model_copy(update={"sync_enabled": False})
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    def start(number: int) -> tuple[BaseProcess, float]:
        process = context.Process(
            target=_worker_main,
            args=(worker_settings, listener, port, number),
            name=f"surveyrouter-api-{number}",
            daemon=False,
        )
        process.start()
        logger.info("API worker %d started (pid %s)", number, process.pid)
        return process, time.monotonic()

    workers = {number: start(number) for number in range(1, settings.workers + 1)}
    loops = BackgroundLoops(sync_loops(runtime, sync_targets(settings, port)))
    if settings.sync_enabled:
        loops.start()
    tune_for_server()
    try:
        while not stop.wait(0.5):
            for number, (process, started) in list(workers.items()):
                if process.is_alive():
                    continue
                logger.warning(
                    "API worker %d (pid %s) exited with code %s; starting another",
                    number,
                    process.pid,
                    process.exitcode,
                )
                if time.monotonic() - started < QUICK_EXIT_SECONDS and stop.wait(
                    RESTART_PAUSE_SECONDS
                ):
                    break
                workers[number] = start(number)
    finally:
        logger.info("stopping %d API workers", len(workers))
        for process, _started in workers.values():
            if process.is_alive():
                process.terminate()  # uvicorn finishes the requests in flight, then exits
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process, _started in workers.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.warning("API worker pid %s did not stop; killing it", process.pid)
                process.kill()
                process.join()
        loops.stop()


def _worker_main(settings: Settings, listener: socket.socket, port: int, number: int) -> None:
    """One API worker: its own runtime and matcher, serving the inherited socket."""
    configure_logging(settings.log_level)
    runtime = build_runtime(settings)
    try:
        application = build_server(runtime, port)
        tune_for_server()
        logger.info("API worker %d serving", number)
        uvicorn.Server(uvicorn_config(application)).run(sockets=[listener])
    finally:
        runtime.close()
