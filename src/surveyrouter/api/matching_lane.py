"""The lane an API process's matching calls (Get Actions, Check, v2 surveys) run their
blocking work in: at most ``matching_concurrency`` at once, the rest waiting their turn, first
come first served.

Their work is mostly matching and ranking, Python holding the GIL, so threads of one process
cannot do it side by side. In the default thread pool (up to 40 threads) every waiting call
took a thread and they all shared the GIL at once: each call then finished only when nearly
all of them had, and the switching cost time of its own. Over loopback on the development
machine (bench/actions.py's setup, docs/performance.md) two at a time gave about a tenth more
requests per second and a p99 a fifth lower than the pool; two rather than one, so that a
call's database round trips overlap another's computing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, TypeVar, TypeVarTuple

import anyio
import anyio.to_thread
from fastapi import Depends, Request

T = TypeVar("T")
Arguments = TypeVarTuple("Arguments")


class MatchingLane:
    """Runs blocking listing work in worker threads, ``concurrency`` at a time."""

    def __init__(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError("a lane runs at least one call at a time")
        self.concurrency = concurrency
        self._limiter: anyio.CapacityLimiter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, function: Callable[[*Arguments], T], *args: *Arguments) -> T:
        """``function(*args)`` in a worker thread once the lane has room; waits in order."""
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter_here())

    @property
    def waiting(self) -> int:
        """Calls waiting for their turn now."""
        return 0 if self._limiter is None else self._limiter.statistics().tasks_waiting

    @property
    def running(self) -> int:
        """Calls in the lane now."""
        return 0 if self._limiter is None else self._limiter.statistics().borrowed_tokens

    def _limiter_here(self) -> anyio.CapacityLimiter:
        # A limiter belongs to the event loop it is made in; a server has one loop, a test
        # may start several in turn.
        loop = asyncio.get_running_loop()
        if self._limiter is None or self._loop is not loop:
            self._limiter = anyio.CapacityLimiter(self.concurrency)
            self._loop = loop
        return self._limiter


async def matching_lane(request: Request) -> MatchingLane:  # async: no thread-pool hop
    lane: MatchingLane = request.app.state.matching_lane
    return lane


MatchingLaneDep = Annotated[MatchingLane, Depends(matching_lane)]
