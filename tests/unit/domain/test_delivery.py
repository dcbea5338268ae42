"""Callback retries back off from 30 s to hourly and stop 24 hours after the callback was made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveyrouter.domain.delivery import RETRY_WINDOW, next_attempt_at

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_waits_double_from_thirty_seconds_up_to_an_hour() -> None:
    waits = [next_attempt_at(T0, n, T0) for n in range(1, 10)]
    assert [w - T0 for w in waits if w is not None] == [
        timedelta(seconds=30),
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
        timedelta(minutes=8),
        timedelta(minutes=16),
        timedelta(minutes=32),
        timedelta(hours=1),
        timedelta(hours=1),
    ]


def test_the_last_attempt_is_at_the_end_of_the_window_then_none() -> None:
    late = T0 + RETRY_WINDOW - timedelta(minutes=10)
    assert next_attempt_at(T0, 40, late) == T0 + RETRY_WINDOW
    assert next_attempt_at(T0, 41, T0 + RETRY_WINDOW) is None


def test_attempts_start_at_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next_attempt_at(T0, 0, T0)


@given(st.integers(1, 10_000), st.timedeltas(timedelta(0), timedelta(days=2)))
def test_a_retry_is_later_than_now_and_never_past_the_window(attempts: int, age: timedelta) -> None:
    now = T0 + age
    retry = next_attempt_at(T0, attempts, now)
    if now >= T0 + RETRY_WINDOW:
        assert retry is None
    else:
        assert retry is not None
        assert now < retry <= T0 + RETRY_WINDOW
