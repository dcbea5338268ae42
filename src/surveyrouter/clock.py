"""The wall clock, read at the edges only: services and the domain take time as an argument
(a ``Clock``) so tests can pass their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
