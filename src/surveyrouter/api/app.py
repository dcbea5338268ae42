"""The app factory: one FastAPI app per runtime, with health, metrics and the error envelope."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from surveyrouter.api import (
    actions,
    client,
    exchanges,
    health,
    history,
    leaderboard,
    publishers,
    surveys,
    v2,
    v2_clicks,
)
from surveyrouter.api.body_limit import BodyLimit
from surveyrouter.api.client_context import GeoLookups
from surveyrouter.api.errors import install_error_handlers
from surveyrouter.api.matching_lane import MatchingLane
from surveyrouter.api.observability import (
    HttpMetrics,
    IndexCollector,
    LiveOpportunitiesCollector,
    MatchingLaneCollector,
    RequestObservation,
    SyncStateCollector,
)
from surveyrouter.bootstrap import Runtime, entry_links, survey_offers
from surveyrouter.domain.matcher import Matcher
from surveyrouter.sandbox.app import create_sandbox_app
from surveyrouter.sandbox.exchange import SandboxExchange
from surveyrouter.services.callers import AppsByToken
from surveyrouter.services.index_feed import IndexFeed
from surveyrouter.settings import SANDBOX_MOUNT
from surveyrouter.store.db import ping
from surveyrouter.web import offerwall, results
from surveyrouter.web.admin.auth import install_admin_handlers
from surveyrouter.web.admin.router import router as admin_router
from surveyrouter.web.pages import STATIC_PATH
from surveyrouter.workers.loops import BackgroundLoops

DESCRIPTION = (
    "A self-hosted survey router: exchange opportunities matched to publishers' users. "
    "Errors use the envelope `{data: null, error: {details: {http, msg}}, status, trace_id}`."
)


def create_app(
    runtime: Runtime,
    *,
    sandbox: SandboxExchange | None = None,
    feed: IndexFeed | None = None,
    background: BackgroundLoops | None = None,
) -> FastAPI:
    """Build the HTTP app on an already prepared runtime (migrated and seeded database).

    ``sandbox`` is mounted under ``/sandbox/rex``; ``feed`` keeps this process's matcher
    current; ``background`` loops start with the server and stop with it.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        offers.impressions.start()
        if background is not None:
            background.start()
        try:
            yield
        finally:
            offers.impressions.stop()
            geo.close()
            if background is not None:
                background.stop()
            if sandbox is not None:
                sandbox.close()

    app = FastAPI(
        title="surveyrouter",
        version=health.package_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.apps_by_token = AppsByToken(runtime.settings.app_cache_seconds)
    geo = GeoLookups.from_settings(runtime.settings)
    app.state.geo = geo
    app.state.sandbox = sandbox
    # Without a feed (a test, a process that lists no surveys) the index is empty.
    feed = feed or IndexFeed(Matcher(), runtime.sessions)
    app.state.feed = feed
    offers = app.state.offers = survey_offers(runtime, feed)
    app.state.matching_lane = MatchingLane(runtime.settings.matching_concurrency)
    app.state.database_probe = health.DatabaseProbe(functools.partial(ping, runtime.reads))
    app.state.entry_links = entry_links(runtime.settings)

    registry = CollectorRegistry()
    registry.register(LiveOpportunitiesCollector(runtime.sessions))
    registry.register(SyncStateCollector(runtime.sessions))
    registry.register(IndexCollector(feed))
    registry.register(MatchingLaneCollector(app.state.matching_lane))
    # Inside RequestObservation (the middleware added later is the outer one), so a refused
    # body is logged and measured with its trace id like any other request.
    app.add_middleware(BodyLimit, max_bytes=runtime.settings.max_request_body_bytes)
    app.add_middleware(RequestObservation, metrics=HttpMetrics(registry))
    install_error_handlers(app)
    install_admin_handlers(app)

    app.include_router(health.router)
    app.include_router(client.router)
    app.include_router(actions.router)
    app.include_router(surveys.router)
    app.include_router(v2.router)
    app.include_router(v2_clicks.router)
    app.include_router(leaderboard.router)
    app.include_router(history.router)
    app.include_router(publishers.router)
    # Before the exchanges' routes: /v1/exchanges/result/{id} is no network's return.
    app.include_router(results.router)
    app.include_router(exchanges.router)
    app.include_router(offerwall.router)
    app.include_router(admin_router)
    app.mount(STATIC_PATH, StaticFiles(packages=[("surveyrouter.web", "static")]))
    if sandbox is not None:
        # The sandbox answers in REX's own shapes, not our envelope: it stands in for Dynata.
        app.mount(SANDBOX_MOUNT, create_sandbox_app(sandbox))

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def metrics() -> Response:
        """Prometheus exposition of this process's metrics."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
