"""The background loops that keep a process's data current: sync, attribute discovery, index.

``serve`` runs all of them beside the HTTP server (or only the index feed, with sync off);
``surveyrouter sync`` runs the sync and discovery loops alone. Each network's worker talks to
its exchange over signed HTTP, the embedded sandbox included, exactly as to Dynata. Clients are
made inside each loop so that their retry pauses end the moment the loop is asked to stop.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable

from surveyrouter.bootstrap import Runtime, SyncTarget
from surveyrouter.clock import utc_now
from surveyrouter.networks.rex.registry import GatewayClient, RegistryClient, RexApi
from surveyrouter.services.attributes import AttributeDiscovery
from surveyrouter.services.index_feed import IndexFeed
from surveyrouter.services.recently_parsed import RecentlyParsed
from surveyrouter.services.sync import SyncWorker
from surveyrouter.workers.loops import Loop

logger = logging.getLogger(__name__)


def sync_loops(
    runtime: Runtime, targets: list[SyncTarget], parsed: RecentlyParsed | None = None
) -> dict[str, Loop]:
    """A sync loop and an attribute-discovery loop per network; ``parsed`` is shared with this
    process's index feed, when it has one."""
    loops: dict[str, Loop] = {}
    for target in targets:
        loops[f"sync-{target.network_id}"] = functools.partial(_sync, runtime, target, parsed)
        loops[f"attributes-{target.network_id}"] = functools.partial(
            _discover_attributes, runtime, target
        )
    return loops


def feed_loop(runtime: Runtime, feed: IndexFeed) -> dict[str, Loop]:
    interval = runtime.settings.index_poll_interval_seconds

    def run(stop: threading.Event) -> None:
        feed.run(stop, interval)

    return {"index-feed": run}


def _interruptible(stop: threading.Event) -> Callable[[float], None]:
    """A sleep that ``stop`` cuts short."""

    def sleep(seconds: float) -> None:
        stop.wait(seconds)

    return sleep


def _sync(
    runtime: Runtime, target: SyncTarget, parsed: RecentlyParsed | None, stop: threading.Event
) -> None:
    api = RexApi.connect(target.registry_url, target.keys, sleep=_interruptible(stop))
    with RegistryClient(api, network=target.network_id) as registry:
        worker = SyncWorker(
            registry, runtime.sessions, target.network_id, utc_now, target.sync, parsed=parsed
        )
        worker.run(stop)


def _discover_attributes(runtime: Runtime, target: SyncTarget, stop: threading.Event) -> None:
    """Look up the network's unmapped attributes now and then every interval; a failing run
    is logged and the next one retries."""
    interval = runtime.settings.attribute_discovery_interval_seconds
    api = RexApi.connect(target.gateway_url, target.keys, sleep=_interruptible(stop))
    with GatewayClient(api) as gateway:
        discovery = AttributeDiscovery(gateway, runtime.sessions)
        while not stop.is_set():
            try:
                result = discovery.discover(target.network_id, utc_now())
                if result.looked_up or result.failed:
                    logger.info(
                        "attributes %s: %d looked up, %d failed",
                        target.network_id,
                        result.looked_up,
                        result.failed,
                        extra={"fields": {"network": target.network_id, "result": repr(result)}},
                    )
            except Exception:
                logger.warning(
                    "attributes %s: discovery failed; retrying in %.0f s",
                    target.network_id,
                    interval,
                    exc_info=True,
                )
            stop.wait(interval)
