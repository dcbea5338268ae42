"""Browser tests: Playwright driving Debian's chromium (``/usr/bin/chromium``) against a real
server on a loopback port, with its embedded sandbox exchange.

Without chromium (or the playwright package) the tests skip, saying so loudly; with
SURVEYROUTER_REQUIRE_BROWSER=1, as ``.ci/run`` sets it, that is a failure instead.
Screenshots of every step are kept under ``var/screenshots/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from surveyrouter.bootstrap import SANDBOX, Runtime, build_runtime, prepare_database
from surveyrouter.cli.serve import bind
from surveyrouter.domain.apps import App
from surveyrouter.sandbox.exchange import SandboxExchange
from surveyrouter.sandbox.outcomes import parse_ending
from surveyrouter.server import build_server
from surveyrouter.services.apps import create_app as create_publisher_app
from surveyrouter.services.index_feed import IndexFeed
from surveyrouter.services.v2_surveys import survey_id
from surveyrouter.settings import Settings
from surveyrouter.web.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.eventually import eventually
from tests.integration.test_end_to_end import open_to_every_adult
from tests.integration.test_server import serving

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def browser_required() -> bool:
    return os.environ.get("SURVEYROUTER_REQUIRE_BROWSER", "").strip().lower() in {
        "1",
        "true",
        "yes",
    }


def _unavailable(reason: str) -> None:
    message = f"{reason}; the offerwall browser tests did NOT run."
    if browser_required():
        pytest.fail(f"SURVEYROUTER_REQUIRE_BROWSER=1 but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One chromium for the session."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        _unavailable(f"playwright does not import ({error}); run make install")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Tab:
    """One browser page with the offerwall hooks it saw, in order, across navigations."""

    page: Any
    name: str
    viewport: dict[str, int]
    hooks: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    shots: int = 0

    def hook_names(self) -> list[str]:
        return [hook["name"] for hook in self.hooks]

    def wait_for_hook(self, name: str, times: int = 1) -> None:
        """Until ``name`` has been posted ``times`` times: the page's message reaches this
        process a moment after the page moved on."""
        deadline = time.monotonic() + 10
        while self.hook_names().count(name) < times:
            if time.monotonic() > deadline:
                raise AssertionError(f"the page never posted {name}; it posted {self.hook_names()}")
            self.page.wait_for_timeout(20)  # lets Playwright deliver the page's calls

    def screenshot(self, step: str) -> Path:
        """Keeps the page as it looks now under var/screenshots/<test>/."""
        self.shots += 1
        folder = SCREENSHOTS / self.name
        folder.mkdir(parents=True, exist_ok=True)
        size = f"{self.viewport['width']}x{self.viewport['height']}"
        path = folder / f"{self.shots:02d}-{step}-{size}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


# Records every hook the page posts to its own window (where a WebView bridge listens) or,
# when framed, to its parent; both are the same window in these tests.
_RECORD_HOOKS = """
window.addEventListener("message", (event) => {
  if (event.data && event.data.type === "hook") window.recordHook(JSON.stringify(event.data));
});
"""


@pytest.fixture
def open_tab(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``open_tab(viewport, **context options)``: a new page in its own browser context."""
    contexts: list[Any] = []
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    shutil.rmtree(SCREENSHOTS / test_name, ignore_errors=True)

    def make(viewport: dict[str, int] = PHONE, **options: Any) -> Tab:
        context = browser.new_context(viewport=viewport, locale="en-US", **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        tab = Tab(page, test_name, viewport)
        context.expose_function("recordHook", lambda text: tab.hooks.append(json.loads(text)))
        context.add_init_script(_RECORD_HOOKS)
        page.on("pageerror", lambda error: tab.errors.append(str(error)))
        return tab

    yield make
    for context in contexts:
        context.close()


# --- the server ------------------------------------------------------------------------------

TOKEN = "offerwall-browser-token-01"
VPN_ADDRESS = "203.0.113.7"  # TEST-NET-3: the anonymous-IP list below names its /24
PLAIN_CPI = 4.2
# The sandbox network's attributes are the question library's ids.
CHILDREN, PETS, DOG = 2004, 2019, "201901"


@dataclass
class WallServer:
    url: str
    runtime: Runtime
    sandbox: SandboxExchange
    feed: IndexFeed
    app: App
    plain: list[str]  # v2 ids of surveys open to every US adult
    asking: str  # v2 id of a survey that asks a NUMBER and a MULTI question first

    def wall(self, uid: str, **parameters: str) -> str:
        return f"{self.url}/offerwall?" + urlencode({"token": TOKEN, "uid": uid, **parameters})

    def force(self, ending: str) -> None:
        """How the sandbox ends every survey from now on (DISPOSITION.STATUS)."""
        self.sandbox.gateway.forced = parse_ending(ending)


@pytest.fixture(scope="module")
def wall_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WallServer]:
    """A server on SQLite with a frozen sandbox market, one publisher app without redirect
    URLs (so users land on our result page), a few surveys anyone qualifies for, and
    203.0.113.0/24 listed as anonymous (a VPN) behind a trusted proxy on loopback."""
    folder = tmp_path_factory.mktemp("offerwall")
    vpn_list = folder / "anonymous.txt"
    vpn_list.write_text("203.0.113.0/24\n")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'surveyrouter.db'}",
        sandbox_state_path=folder / "sandbox-exchange.db",
        sandbox_opportunities=300,
        sandbox_frozen=True,
        sandbox_forced_outcome="1.0",
        index_poll_interval_seconds=0.2,
        impressions_flush_seconds=0.5,
        trusted_proxies=["127.0.0.1/32"],
        anonymous_ip_cidr_files=[vpn_list],
    )
    runtime = build_runtime(settings)
    try:
        prepare_database(runtime)
        listener = bind("127.0.0.1", 0)
        server_app = build_server(runtime, listener.getsockname()[1])
        with serving(server_app, listener) as url:
            sandbox = server_app.state.sandbox
            feed = server_app.state.feed
            assert eventually(lambda: feed.indexed > 0), "the sandbox never synced"
            plain, asking = _prepare_market(sandbox, feed)
            app = create_publisher_app(
                runtime.sessions,
                lambda: datetime.now(UTC),
                {
                    "name": "Quiz Kingdom",
                    "api_token": TOKEN,
                    "secret": "offerwall-browser-secret-01",
                    "currency_symbol": "{value} Coins",
                    "screenout_reward": Decimal("0.05"),
                    "start_bonus_questions": 3,
                    "start_bonus_reward": Decimal(25),
                    "leaderboard_enabled": True,
                    "leaderboard_rewards": (Decimal(500), Decimal(250)),
                    "colors": ("#6d28d9", "#f5f3ff"),
                },
            )
            yield WallServer(url, runtime, sandbox, feed, app, plain, asking)
    finally:
        runtime.close()


def _prepare_market(sandbox: SandboxExchange, feed: IndexFeed) -> tuple[list[str], str]:
    """Opens a few US surveys to every adult (no filters, full incidence, the best paid per
    minute, so they lead the list) and makes one of them ask two questions first: how many
    children (NUMBER, any count qualifies) and which pets (MULTI, a dog qualifies)."""
    chosen = [
        document["id"]
        for document in sandbox.registry.documents()
        if document["status"] == "OPEN"
        and document["locale"] == {"language": "en", "country": "US"}
    ][:4]

    def plain(document: dict[str, Any]) -> None:
        open_to_every_adult(document, cpi=PLAIN_CPI)

    def asking(document: dict[str, Any]) -> None:
        open_to_every_adult(document, cpi=9.0, loi=3)
        document.update(
            cells=[
                {
                    "tag": "children",
                    "attribute_id": CHILDREN,
                    "negate": False,
                    "kind": "RANGE",
                    "range": {"from": 0, "to": 20},
                },
                {
                    "tag": "dog",
                    "attribute_id": PETS,
                    "negate": False,
                    "kind": "VALUE",
                    "value": DOG,
                },
            ],
            filters=[
                [{"id": "children", "cells": ["children"]}],
                [{"id": "dog", "cells": ["dog"]}],
            ],
        )

    for opportunity_id in chosen[1:]:
        sandbox.registry.change(opportunity_id, plain)
    sandbox.registry.change(chosen[0], asking)
    assert eventually(
        lambda: all(
            ("sandbox", i) in feed.opportunities
            and feed.opportunities[("sandbox", i)].cpi
            == Decimal("9.0" if n == 0 else str(PLAIN_CPI))
            for n, i in enumerate(chosen)
        )
    ), "the prepared surveys never reached the index"
    return [survey_id(SANDBOX.api_id, i) for i in chosen[1:]], survey_id(SANDBOX.api_id, chosen[0])
