"""Where one request's time went, for its ``Server-Timing`` response header (W3C Server Timing).

The HTTP layer opens a ``StageTimes`` per request; services mark their steps with
``stage("match")``. Outside a request (a CLI command, a test calling a service) there is no
``StageTimes`` and ``stage`` records nothing. A developer sees the split in the browser's
network panel; ``bench/actions.py`` reads it back over HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

_current: ContextVar[StageTimes | None] = ContextVar("stage_times", default=None)


class StageTimes:
    """The stages of one request, in the order they finished, with their seconds."""

    def __init__(self) -> None:
        self.stages: list[tuple[str, float]] = []

    def add(self, name: str, seconds: float) -> None:
        self.stages.append((name, seconds))

    def header(self, total_seconds: float | None = None) -> bytes:
        """The ``Server-Timing`` value: each stage as ``name;dur=ms``, then ``app`` for the
        whole time the application took, when given."""
        entries = [*self.stages, *([("app", total_seconds)] if total_seconds is not None else [])]
        return ", ".join(f"{name};dur={seconds * 1000:.2f}" for name, seconds in entries).encode()


def begin() -> tuple[StageTimes, Token[StageTimes | None]]:
    """Start recording the current request's stages (the contextvar reaches the threads that
    serve it: Starlette runs sync routes and dependencies in a copy of the context)."""
    times = StageTimes()
    return times, _current.set(times)


def end(token: Token[StageTimes | None]) -> None:
    _current.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as stage ``name`` of the current request, if one is being recorded."""
    times = _current.get()
    if times is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        times.add(name, time.perf_counter() - started)
