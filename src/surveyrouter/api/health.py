"""Liveness and readiness for load balancers and humans: is this process and its database up."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from importlib import metadata
from typing import Annotated, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from surveyrouter.api.dependencies import RuntimeDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


class DatabaseHealth(BaseModel):
    ok: bool
    backend: str


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    version: str
    database: DatabaseHealth


# Longer than a healthy database ever takes (the connect timeout is 5 s as well): a ping
# still out after this is reported down, and the next check asks again.
PING_TIMEOUT_S = 5.0


class DatabaseProbe:
    """Whether the database answers, asked by one ping at a time however many health checks
    come in at once: those arriving while a ping is out wait for its answer.

    Each check run on its own took a thread and a pooled connection: under a burst, checks
    beyond the pool's connections opened and closed connections of their own, slow enough (a
    new PostgreSQL backend each) that some waited past the connect timeout and reported a
    healthy database down. A check's answer is never older than the ping it waited for, which
    started at most one round trip before the check came in; no check waits longer than
    ``timeout_s`` after that ping started, so one ping stuck on a dead connection cannot hold
    every check of the process.
    """

    def __init__(self, ping: Callable[[], None], timeout_s: float = PING_TIMEOUT_S) -> None:
        self._ping = ping
        self._timeout_s = timeout_s
        self._pending: asyncio.Task[bool] | None = None
        self._started = 0.0
        # Pings given up on, kept until they end: a task nothing refers to may be collected.
        self._abandoned: set[asyncio.Task[bool]] = set()

    async def database_ok(self) -> bool:
        # A task belongs to the event loop it runs in; a server has one loop, a test may
        # start several in turn.
        here = asyncio.get_running_loop()
        now = here.time()
        pending = self._pending
        if pending is not None and not pending.done() and pending.get_loop() is here:
            if now - self._started < self._timeout_s:
                return await self._answer(pending, now)
            self._abandoned.add(pending)
            pending.add_done_callback(self._abandoned.discard)
        pending = self._pending = asyncio.create_task(self._ask())
        self._started = now
        return await self._answer(pending, now)

    async def _answer(self, pending: asyncio.Task[bool], now: float) -> bool:
        """``pending``'s answer, or False once ``timeout_s`` has passed since it started."""
        try:
            # Shielded: a check whose caller went away does not cancel the others' answer.
            return await asyncio.wait_for(
                asyncio.shield(pending), self._started + self._timeout_s - now
            )
        except TimeoutError:
            log.warning("health check: the database did not answer in %.0f s", self._timeout_s)
            return False

    async def _ask(self) -> bool:
        try:
            await anyio.to_thread.run_sync(self._ping)
        except Exception:  # whatever the reason, a database that cannot be pinged is down
            log.warning("health check: database unreachable", exc_info=True)
            return False
        return True


async def database_probe(request: Request) -> DatabaseProbe:  # async: no thread-pool hop
    probe: DatabaseProbe = request.app.state.database_probe
    return probe


DatabaseProbeDep = Annotated[DatabaseProbe, Depends(database_probe)]


@functools.cache  # read once: it scans the installed distributions, half a millisecond
def package_version() -> str:
    try:
        return metadata.version("surveyrouter")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database does not answer."}},
)
async def healthz(runtime: RuntimeDep, probe: DatabaseProbeDep, response: Response) -> Health:
    """200 when the database answers a trivial query, 503 when it does not."""
    database_ok = await probe.database_ok()
    if not database_ok:
        response.status_code = 503
    return Health(
        status="ok" if database_ok else "unavailable",
        version=package_version(),
        database=DatabaseHealth(ok=database_ok, backend=runtime.engine.dialect.name),
    )
