"""The clock tests hand to code that takes time as a parameter."""

from __future__ import annotations

from datetime import datetime, timedelta


class Clock:
    """Reads ``now``; tests move it with ``advance``, or let ``step`` move it on every read."""

    def __init__(self, now: datetime, step: timedelta = timedelta(0)) -> None:
        self.now = now
        self.step = step

    def __call__(self) -> datetime:
        moment = self.now
        self.now += self.step
        return moment

    def advance(self, seconds: float = 0, **delta: float) -> None:
        self.now += timedelta(seconds=seconds, **delta)
