"""Offerwall paint benchmark: how soon the hosted wall shows something, and how soon its
survey cards, in Debian's chromium on this machine.

    .venv/bin/python bench/offerwall.py [--rounds 30] [--opportunities 2000] [--markdown]

It serves the app with its embedded sandbox (a frozen market of ``--opportunities``) on a
loopback port over SQLite, as ``make run`` does, and opens the wall ``--rounds`` times, each
in a fresh browser context (nothing cached): for a new user (the first profile question) and
for a user whose standard profile is answered (the ranked survey cards, through Get Actions and
v2 surveys). It reports first contentful paint and the moment the page's content showed
(``performance.mark`` ``offerwall:<view>``), median and p99, against the plain reference in
the same run: the wall's own error page, server-rendered HTML and the stylesheet, no script
and no API call. A benchmark, not a test: it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from playwright.sync_api import Browser, sync_playwright
from rich.console import Console
from rich.progress import track

from reporting import percentile, print_table
from surveyrouter.bootstrap import build_runtime, prepare_database
from surveyrouter.cli.serve import bind
from surveyrouter.server import build_server
from surveyrouter.services.apps import create_app
from surveyrouter.settings import Settings
from surveyrouter.web.chromium import CHROMIUM, CHROMIUM_ARGS

TOKEN = "offerwall-bench-token-0001"
PROFILE = {"gender": ["1"], "birth_date": ["1990-05-01"], "postal_code": ["10110"]}
console = Console(width=160)


@contextmanager
def serving(folder: Path, opportunities: int) -> Iterator[str]:
    settings = Settings(
        database_url=f"sqlite:///{folder / 'surveyrouter.db'}",
        sandbox_state_path=folder / "sandbox-exchange.db",
        sandbox_opportunities=opportunities,
        sandbox_frozen=True,
    )
    runtime = build_runtime(settings)
    prepare_database(runtime)
    listener = bind("127.0.0.1", 0)
    app = build_server(runtime, listener.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    feed = app.state.feed
    with console.status("syncing the sandbox market"):
        while feed.indexed < opportunities * 0.9:
            time.sleep(0.2)
    create_app(
        runtime.sessions,
        lambda: datetime.now(UTC),
        {"name": "Bench wall", "api_token": TOKEN, "secret": "offerwall-bench-secret-01"},
    )
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        runtime.close()


def answer_profile(base: str, uid: str) -> None:
    with httpx.Client(base_url=base, headers={"X-Api-Token": TOKEN, "X-User-Id": uid}) as http:
        for key, answers in PROFILE.items():
            response = http.post(
                f"/v1/client/networks/0/questions/{key}", json={"answers": answers}
            )
            response.raise_for_status()


def measure(browser: Browser, url: str, shown: str | None) -> tuple[float, float]:
    """First contentful paint and the moment ``shown`` (a view, or None: the load) showed, ms."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    try:
        page = context.new_page()
        page.goto(url)
        if shown is not None:
            page.wait_for_selector(f'#view[data-view="{shown}"]')
        timings: dict[str, Any] = page.evaluate(
            """(view) => ({
                paint: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
                shown: view ? performance.getEntriesByName('offerwall:' + view)[0].startTime
                            : performance.getEntriesByType('navigation')[0].loadEventEnd,
            })""",
            shown,
        )
        if timings["paint"] is None:  # painted, but not yet reported: wait one frame
            page.wait_for_timeout(50)
            timings["paint"] = page.evaluate(
                "() => performance.getEntriesByName('first-contentful-paint')[0].startTime"
            )
        return float(timings["paint"]), float(timings["shown"])
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--opportunities", type=int, default=2000)
    parser.add_argument("--markdown", action="store_true")
    arguments = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        serving(Path(folder), arguments.opportunities) as base,
    ):
        answer_profile(base, "returning")
        cases = [
            ("reference: error page", f"{base}/offerwall?" + urlencode({"token": TOKEN}), None),
            ("new user: first question", None, "profile"),
            ("returning user: survey cards", None, "surveys"),
        ]
        samples: dict[str, tuple[list[float], list[float]]] = {
            name: ([], []) for name, _, _ in cases
        }
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
            )
            measure(browser, f"{base}/offerwall?token={TOKEN}", None)  # warm the server up
            for round_number in track(range(arguments.rounds), description="opening the wall"):
                for name, url, shown in cases:
                    if url is None:
                        uid = "returning" if shown == "surveys" else f"new-{round_number}"
                        url = f"{base}/offerwall?" + urlencode({"token": TOKEN, "uid": uid})
                    paint, ready = measure(browser, url, shown)
                    samples[name][0].append(paint)
                    samples[name][1].append(ready)
            browser.close()
    reference = statistics.median(samples[cases[0][0]][0])
    lines = []
    for name, (paints, readies) in samples.items():
        lines.append(
            [
                name,
                f"{statistics.median(paints):.0f}",
                f"{percentile(paints, 99):.0f}",
                f"{statistics.median(readies):.0f}",
                f"{percentile(readies, 99):.0f}",
                f"{statistics.median(paints) / reference:.2f}",
            ]
        )
    print_table(
        console,
        f"offerwall in chromium, {arguments.rounds} cold loads each, 390×844 (ms)",
        [
            "page",
            "first paint median",
            "first paint p99",
            "content median",
            "content p99",
            "paint / reference",
        ],
        lines,
        arguments.markdown,
    )


if __name__ == "__main__":
    main()
