"""Opening the sandbox's registry: resume it from its state file, or seed a new market.

A state file that already holds a market is resumed as it is, whatever seed or size the options
ask for now: the router may have synced that market, and the sandbox must not contradict it.
Only the address the sandbox is reached at may change between runs (another port); then every
``links.live`` is rewritten, which re-notifies each opportunity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from surveyrouter.domain.questions import QuestionLibrary
from surveyrouter.sandbox.attributes import market_attributes
from surveyrouter.sandbox.journal import Journal
from surveyrouter.sandbox.market import generate_market
from surveyrouter.sandbox.registry import RegistryState

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

BASE_URL = "base_url"


def open_registry(
    *,
    seed: int,
    opportunities: int,
    base_url: str,
    library: QuestionLibrary,
    clock: Clock,
    state_path: Path | None,
) -> RegistryState:
    """The registry for a sandbox reached at ``base_url``: resumed from ``state_path`` when it
    holds a market, else seeded with ``opportunities`` drawn from ``seed``."""
    journal = Journal(state_path) if state_path is not None else None
    registry = RegistryState(clock, journal)
    base_url = base_url.rstrip("/")
    if registry.empty:
        registry.seed(
            generate_market(
                opportunities,
                seed=seed,
                live_base_url=base_url,
                as_of=clock(),
                attributes=market_attributes(library),
            )
        )
        registry.set_meta("seed", str(seed))
        registry.set_meta(BASE_URL, base_url)
        return registry
    previous = registry.meta(BASE_URL)
    logger.info(
        "sandbox: resumed %d opportunities from %s",
        len(registry.opportunity_ids()),
        state_path,
        extra={"fields": {"seed": registry.meta("seed"), "requested_seed": seed}},
    )
    if previous is not None and previous != base_url:
        rebase_links(registry, previous, base_url)
        registry.set_meta(BASE_URL, base_url)
    return registry


def rebase_links(registry: RegistryState, old: str, new: str) -> int:
    """Point every ``links.live`` under ``old`` at ``new`` instead; returns how many changed."""
    changed = 0

    def rewrite(document: dict[str, Any]) -> None:
        links = document.get("links") or {}
        links["live"] = new + str(links["live"])[len(old) :]

    for document in registry.documents():
        live = str((document.get("links") or {}).get("live", ""))
        if live.startswith(old + "/"):
            registry.change(int(document["id"]), rewrite)
            changed += 1
    logger.info("sandbox: %d entry links moved from %s to %s", changed, old, new)
    return changed
