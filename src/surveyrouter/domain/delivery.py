"""When to try a failed publisher callback again, and when to give up."""

from __future__ import annotations

from datetime import datetime, timedelta

# The issue: exponential backoff for 24 hours, then a dead letter for the operator.
RETRY_WINDOW = timedelta(hours=24)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)


def next_attempt_at(
    created_at: datetime,
    attempts: int,
    now: datetime,
    *,
    window: timedelta = RETRY_WINDOW,
    first: timedelta = FIRST_RETRY,
    longest: timedelta = LONGEST_WAIT,
) -> datetime | None:
    """After ``attempts`` failed attempts (the latest at ``now``), when to try next: 30 s, then
    doubling up to an hour apart, the last try at the end of the window; None once the window
    since ``created_at`` has closed (a dead letter)."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    closes = created_at + window
    if now >= closes:
        return None
    wait = min(first * 2 ** min(attempts - 1, 30), longest)
    planned: datetime = now + wait
    return planned if planned < closes else closes
