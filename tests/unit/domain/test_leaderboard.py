"""The weekly leaderboard: a week is Monday 00:00 UTC to the next, and earnings rank best
first, ties to whoever reached them first (client API §2.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveyrouter.domain.leaderboard import (
    RankReward,
    Standing,
    WeeklyTotal,
    next_reset,
    rank,
    rank_rewards,
    week_start,
)

# Monday 7 December 2026.
MONDAY = datetime(2026, 12, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    "at",
    [
        MONDAY,
        MONDAY + timedelta(microseconds=1),
        datetime(2026, 12, 9, 15, 30, tzinfo=UTC),  # Wednesday
        MONDAY + timedelta(days=7, microseconds=-1),  # Sunday 23:59:59.999999
    ],
)
def test_every_moment_of_the_week_belongs_to_the_week_that_began_on_monday(at: datetime) -> None:
    assert week_start(at) == MONDAY
    assert next_reset(at) == datetime(2026, 12, 14, tzinfo=UTC)


def test_monday_midnight_begins_a_new_week() -> None:
    assert week_start(MONDAY + timedelta(days=7)) == MONDAY + timedelta(days=7)
    assert week_start(MONDAY - timedelta(microseconds=1)) == MONDAY - timedelta(days=7)


def test_the_week_is_reckoned_in_utc_whatever_zone_the_time_is_given_in() -> None:
    berlin_monday_morning = datetime(2026, 12, 7, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert week_start(berlin_monday_morning) == MONDAY - timedelta(days=7)  # Sunday 23:30 UTC
    new_york_sunday_night = datetime(2026, 12, 6, 19, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert week_start(new_york_sunday_night) == MONDAY  # Monday 00:30 UTC
    assert week_start(berlin_monday_morning).tzinfo is UTC


def test_a_week_runs_across_the_turn_of_the_year() -> None:
    assert week_start(datetime(2027, 1, 1, 9, tzinfo=UTC)) == datetime(2026, 12, 28, tzinfo=UTC)
    assert next_reset(datetime(2026, 12, 31, tzinfo=UTC)) == datetime(2027, 1, 4, tzinfo=UTC)


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        week_start(datetime(2026, 12, 9, 12))  # noqa: DTZ001 - the point of the test


@given(st.datetimes(timezones=st.just(UTC)))
def test_the_week_holds_the_moment_starts_on_a_monday_midnight_and_lasts_seven_days(
    at: datetime,
) -> None:
    start = week_start(at)
    assert start <= at < next_reset(at)
    assert next_reset(at) - start == timedelta(days=7)
    assert (start.weekday(), start.time()) == (0, datetime.min.time())


def total(user_id: int, earnings: str, minute: int = 0) -> WeeklyTotal:
    return WeeklyTotal(
        user_id, f"user{user_id}", Decimal(earnings), MONDAY + timedelta(minutes=minute)
    )


def test_more_earnings_rank_higher_and_ranks_count_from_one() -> None:
    standings = rank([total(1, "100"), total(2, "860"), total(3, "540")])
    assert [(s.rank, s.user_id) for s in standings] == [(1, 2), (2, 3), (3, 1)]
    assert standings[0] == Standing(1, 2, "user2", Decimal(860))


def test_equal_earnings_rank_whoever_reached_them_first_then_the_lower_user_id() -> None:
    standings = rank([total(5, "500", minute=30), total(3, "500", minute=10), total(4, "500", 10)])
    assert [s.user_id for s in standings] == [3, 4, 5]
    assert [s.rank for s in standings] == [1, 2, 3]  # ties share no rank


def test_users_who_earned_nothing_or_were_reversed_below_it_take_no_part() -> None:
    standings = rank([total(1, "0"), total(2, "-540"), total(3, "0.01")])
    assert [s.user_id for s in standings] == [3]


def test_rewards_go_to_the_ranks_in_the_order_the_app_lists_them() -> None:
    assert rank_rewards((Decimal(1000), Decimal(500), Decimal("250.5"))) == (
        RankReward(1, Decimal(1000)),
        RankReward(2, Decimal(500)),
        RankReward(3, Decimal("250.5")),
    )
    assert rank_rewards(()) == ()
