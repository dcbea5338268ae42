"""The background loops that keep a process's data current: sync, attribute discovery, index.

``serve`` runs all of them beside the HTTP server (or only the index feed, with sync off);
``surveyrouter sync`` runs the sync and discovery loops alone. Each network's worker talks to
its exchange over signed HTTP, the embedded sandbox included, exactly as to Dynata.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from surveyrouter.bootstrap import Runtime, SyncTarget
from surveyrouter.networks.rex.registry import GatewayClient, RegistryClient, RexApi
from surveyrouter.services.attributes import AttributeDiscovery
from surveyrouter.services.index_feed import IndexFeed
from surveyrouter.services.sync import SyncWorker
from surveyrouter.workers.loops import Loop

logger = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def sync_loops(runtime: Runtime, targets: list[SyncTarget]) -> dict[str, Loop]:
    """A sync loop and an attribute-discovery loop per network."""
    loops: dict[str, Loop] = {}
    for target in targets:
        registry = RegistryClient(
            RexApi.connect(target.registry_url, target.keys), network=target.network_id
        )
        worker = SyncWorker(registry, runtime.sessions, target.network_id, _now, target.sync)
        loops[f"sync-{target.network_id}"] = worker.run
        gateway = GatewayClient.connect(target.gateway_url, target.keys)
        discovery = AttributeDiscovery(gateway, runtime.sessions)
        interval = runtime.settings.attribute_discovery_interval_seconds
        loops[f"attributes-{target.network_id}"] = _every(
            interval, functools.partial(_discover, discovery, target.network_id)
        )
    return loops


def feed_loop(runtime: Runtime, feed: IndexFeed) -> dict[str, Loop]:
    interval = runtime.settings.index_poll_interval_seconds

    def run(stop: threading.Event) -> None:
        feed.run(stop, interval)

    return {"index-feed": run}


def _discover(discovery: AttributeDiscovery, network_id: str) -> None:
    result = discovery.discover(network_id, _now())
    if result.looked_up or result.failed:
        logger.info(
            "attributes %s: %d looked up, %d failed",
            network_id,
            result.looked_up,
            result.failed,
            extra={"fields": {"network": network_id, "result": repr(result)}},
        )


def _every(interval: float, task: Callable[[], None]) -> Loop:
    """A loop running ``task`` now and then every ``interval`` seconds; a failing run is
    logged and the loop goes on (the next run retries)."""

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                task()
            except Exception:
                logger.warning("periodic task failed; retrying in %.0f s", interval, exc_info=True)
            stop.wait(interval)

    return run
