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
from sqlalchemy.exc import SQLAlchemyError

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


class DatabaseProbe:
    """Whether the database answers, asked by one ping at a time however many health checks
    come in at once: those arriving while a ping is out wait for its answer.

    Each check run on its own took a thread and a pooled connection: under a burst, checks
    beyond the pool's five connections opened and closed connections of their own, slow
    enough (a new PostgreSQL backend each) that some waited past the connect timeout and
    reported a healthy database down. A check's answer is never older than the ping it
    waited for, which started at most one round trip before the check came in.
    """

    def __init__(self, ping: Callable[[], None]) -> None:
        self._ping = ping
        self._pending: asyncio.Task[bool] | None = None

    async def database_ok(self) -> bool:
        pending = self._pending
        # A task belongs to the event loop it runs in; a server has one loop, a test may
        # start several in turn.
        here = asyncio.get_running_loop()
        if pending is None or pending.done() or pending.get_loop() is not here:
            pending = self._pending = asyncio.create_task(self._ask())
        # Shielded: a check whose caller went away does not cancel the others' answer.
        return await asyncio.shield(pending)

    async def _ask(self) -> bool:
        try:
            await anyio.to_thread.run_sync(self._ping)
        except SQLAlchemyError:
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
