"""The app factory: one FastAPI app per runtime, with health, metrics and the error envelope."""

from __future__ import annotations

from fastapi import FastAPI, Response
from fastapi.responses import RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from surveyrouter.api import health
from surveyrouter.api.errors import install_error_handlers
from surveyrouter.api.observability import (
    HttpMetrics,
    LiveOpportunitiesCollector,
    RequestObservation,
)
from surveyrouter.bootstrap import Runtime

DESCRIPTION = (
    "A self-hosted survey router: exchange opportunities matched to publishers' users. "
    "Errors use the envelope `{data: null, error: {details: {http, msg}}, status, trace_id}`."
)


def create_app(runtime: Runtime) -> FastAPI:
    """Build the HTTP app on an already prepared runtime (migrated and seeded database)."""
    app = FastAPI(title="surveyrouter", version=health.package_version(), description=DESCRIPTION)
    app.state.runtime = runtime

    registry = CollectorRegistry()
    registry.register(LiveOpportunitiesCollector(runtime.sessions))
    app.add_middleware(RequestObservation, metrics=HttpMetrics(registry))
    install_error_handlers(app)

    app.include_router(health.router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def metrics() -> Response:
        """Prometheus exposition of this process's metrics."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
