"""What every request leaves behind: a trace id, one JSON log line and Prometheus samples."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from surveyrouter import stage_timing
from surveyrouter.api.envelope import error_body, new_trace_id
from surveyrouter.api.matching_lane import MatchingLane
from surveyrouter.logging_setup import trace_id_var
from surveyrouter.services.index_feed import IndexFeed
from surveyrouter.settings import SANDBOX_MOUNT
from surveyrouter.store.db import database_unavailable
from surveyrouter.store.opportunities import live_counts
from surveyrouter.store.sync_state import SyncState, list_sync_states

log = logging.getLogger("surveyrouter.http")

TRACE_ID_HEADER = b"x-trace-id"
SERVER_TIMING_HEADER = b"server-timing"
# The scope key error handlers read the trace id from: they may run outside this middleware.
TRACE_ID_SCOPE_KEY = "surveyrouter.trace_id"
# Requests that match no route share one label, so scanners cannot blow up the series count.
UNMATCHED_ROUTE = "<unmatched>"


class HttpMetrics:
    """The HTTP metrics of one app, in a registry of its own so apps never share series."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "surveyrouter_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "surveyrouter_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and status.",
            ["method", "route", "status"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )


class LiveOpportunitiesCollector(Collector):
    """Reads the open opportunities per network from the store at each scrape."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def describe(self) -> list[GaugeMetricFamily]:
        # Describing without collecting keeps registration from querying the database.
        return [self._family()]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self._sessions() as session:
                counts = live_counts(session)
        except SQLAlchemyError:
            # /healthz reports the outage; a scrape without the gauge still serves the rest.
            log.warning("live opportunity count failed", exc_info=True)
            return
        family = self._family()
        for network_id, count in sorted(counts.items()):
            family.add_metric([network_id], count)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "surveyrouter_live_opportunities",
            "Open opportunities in the store, per network.",
            labels=["network"],
        )


class SyncStateCollector(Collector):
    """Each network's sync health from the store (any process's sync workers write it)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def describe(self) -> list[GaugeMetricFamily]:
        return list(self._families([]))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self._sessions() as session:
                states = list_sync_states(session)
        except SQLAlchemyError:
            log.warning("sync state read failed", exc_info=True)
            return
        yield from self._families(states)

    @staticmethod
    def _families(states: list[SyncState]) -> Iterator[GaugeMetricFamily]:
        def gauge(
            name: str, text: str, labels: tuple[str, ...] = ("network",)
        ) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, text, labels=list(labels))

        success = gauge(
            "surveyrouter_sync_last_success_timestamp_seconds",
            "When the network's last sync step succeeded (Unix time).",
        )
        error = gauge(
            "surveyrouter_sync_last_error_timestamp_seconds",
            "When the network's last sync step failed (Unix time).",
        )
        lag = gauge(
            "surveyrouter_sync_lag_seconds",
            "How far the newest notification synced was behind the clock at the last success.",
        )
        counts = gauge(
            "surveyrouter_sync_opportunities",
            "Opportunities stored for the network, by status, as of the last sync step.",
            ("network", "status"),
        )
        rejected = gauge(
            "surveyrouter_sync_rejected",
            "Notifications dropped because they did not parse, since the network was added.",
        )
        for state in states:
            labels = [state.network_id]
            if state.last_success_at is not None:
                success.add_metric(labels, state.last_success_at.timestamp())
            if state.last_error_at is not None:
                error.add_metric(labels, state.last_error_at.timestamp())
            if state.lag_seconds is not None:
                lag.add_metric(labels, state.lag_seconds)
            for status, count in (
                ("live", state.live_count),
                ("paused", state.paused_count),
                ("closed", state.closed_count),
            ):
                counts.add_metric([state.network_id, status], count)
            rejected.add_metric(labels, state.rejected_total)
        yield from (success, error, lag, counts, rejected)


class IndexCollector(Collector):
    """This process's matcher: what it holds and how far along the change feed it is."""

    def __init__(self, feed: IndexFeed) -> None:
        self._feed = feed

    def describe(self) -> list[GaugeMetricFamily]:
        return list(self._families(None))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families(self._feed)

    @staticmethod
    def _families(feed: IndexFeed | None) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily(
            "surveyrouter_index_opportunities", "Opportunities in this process's matcher."
        )
        seq = GaugeMetricFamily(
            "surveyrouter_index_change_seq", "The last store change this process's matcher applied."
        )
        if feed is not None:
            size.add_metric([], feed.indexed)
            seq.add_metric([], feed.last_seq)
        yield from (size, seq)


class MatchingLaneCollector(Collector):
    """This process's matching lane (``api.matching_lane``): calls in it and waiting for it.
    Calls always waiting say the process needs more of the lane, or more processes."""

    def __init__(self, lane: MatchingLane) -> None:
        self._lane = lane

    def describe(self) -> list[GaugeMetricFamily]:
        return list(self._families(None))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families(self._lane)

    @staticmethod
    def _families(lane: MatchingLane | None) -> Iterator[GaugeMetricFamily]:
        running = GaugeMetricFamily(
            "surveyrouter_matching_lane_running", "Matching calls this process is working on."
        )
        waiting = GaugeMetricFamily(
            "surveyrouter_matching_lane_waiting", "Matching calls waiting for their turn."
        )
        if lane is not None:
            running.add_metric([], lane.running)
            waiting.add_metric([], lane.waiting)
        yield from (running, waiting)


def route_template(scope: Scope) -> str:
    """The path template of the route that served the request, e.g. "/v1/users/{user_id}"."""
    route = scope.get("route")
    if route is not None:
        # A mounted app's routes (the sandbox's) are relative to their mount point.
        return str(scope.get("root_path", "")) + str(getattr(route, "path", UNMATCHED_ROUTE))
    # FastAPI records its own routes in the scope but not plain Starlette ones such as /docs.
    for candidate in getattr(scope.get("app"), "routes", ()):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return str(getattr(candidate, "path", UNMATCHED_ROUTE))
    return UNMATCHED_ROUTE


# When a caller told the database is not answering may try again.
RETRY_AFTER_SECONDS = b"5"


class RequestObservation:
    """ASGI middleware: assigns the trace id, then logs and measures the finished request."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = new_trace_id()
        scope[TRACE_ID_SCOPE_KEY] = trace_id
        token = trace_id_var.set(trace_id)
        stages, stages_token = stage_timing.begin()
        status = 500
        started = time.perf_counter()
        response_started = False

        async def send_with_trace_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((TRACE_ID_HEADER, trace_id.encode()))
                elapsed = time.perf_counter() - started
                headers.append((SERVER_TIMING_HEADER, stages.header(elapsed)))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace_id)
        except Exception as error:
            # Handled here, inside the trace id's context, so that the log line and the error
            # carry the id the caller sees; Starlette's own handler runs outside this middleware.
            unavailable = database_unavailable(error)
            log.error("database unavailable" if unavailable else "unhandled error", exc_info=True)
            if response_started:
                raise
            if unavailable:  # an outage, not a bug: the caller may retry
                code, msg = 503, "the database is not answering; retry shortly"
                retry = [(b"retry-after", RETRY_AFTER_SECONDS)]
            else:
                code, msg, retry = 500, "internal server error", []
            body = json.dumps(error_body(code, msg, trace_id)).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
                *retry,
            ]
            await send_with_trace_id(
                {"type": "http.response.start", "status": code, "headers": headers}
            )
            await send_with_trace_id({"type": "http.response.body", "body": body})
        finally:
            self._record(scope, status, time.perf_counter() - started)
            stage_timing.end(stages_token)
            trace_id_var.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        template = route_template(scope)
        method = scope["method"]
        self.metrics.requests.labels(method, template, str(status)).inc()
        self.metrics.duration.labels(method, template, str(status)).observe(seconds)
        # The sync workers poll the embedded sandbox every second: those lines are noise
        # unless asked for. Errors are logged whatever the path.
        quiet = status < 400 and template.startswith(SANDBOX_MOUNT + "/")
        log.log(
            logging.DEBUG if quiet else logging.INFO,
            "request",
            extra={
                "fields": {
                    "method": method,
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                }
            },
        )
