"""Running an event loop from a test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio

T = TypeVar("T")


def run_loop(main: Callable[[], Awaitable[T]]) -> T:
    """``anyio.run(main)`` on a thread of its own: in the whole suite, the browser tests'
    Playwright (sync API) keeps an asyncio loop running on the main thread."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(anyio.run, main).result()
