"""Liveness and readiness for load balancers and humans: is this process and its database up."""

from __future__ import annotations

import functools
import logging
from importlib import metadata
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.store.db import ping

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


class DatabaseHealth(BaseModel):
    ok: bool
    backend: str


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    version: str
    database: DatabaseHealth


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
def healthz(runtime: RuntimeDep, response: Response) -> Health:
    """200 when the database answers a trivial query, 503 when it does not."""
    try:
        ping(runtime.engine)
        database_ok = True
    except SQLAlchemyError:
        log.warning("health check: database unreachable", exc_info=True)
        database_ok = False
    if not database_ok:
        response.status_code = 503
    return Health(
        status="ok" if database_ok else "unavailable",
        version=package_version(),
        database=DatabaseHealth(ok=database_ok, backend=runtime.engine.dialect.name),
    )
