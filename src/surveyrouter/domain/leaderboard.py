"""The weekly leaderboard (client API §2.4): whose earnings lead this week, and when it resets.

A week runs from Monday 00:00 UTC to the next Monday 00:00 UTC; the leaderboard counts what
the ledger paid each user in it (completes, screenouts and start bonus, less reconciliations),
in the app's currency. Only users who earned more than nothing this week and have a
``username`` take part: the SDKs model ``name`` as a non-optional string, so an unnamed entry
would break their decoding, and a nameless row tells the reader nothing.

Ranks are distinct: equal earnings rank whoever reached them first higher (the earlier of
their latest entries this week), and the same moment too falls back to the user id, so every
reader sees one order. The store computes the ranking in SQL; ``rank`` is the plain statement
of the same rule, which the store's tests are pinned to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

# The SDK widgets show the top ten (client API §2.4: ``top_users``).
TOP_SIZE = 10
WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class WeeklyTotal:
    """What one named user earned this week, and when their latest entry of it was written."""

    user_id: int
    name: str
    earnings: Decimal
    reached_at: datetime


@dataclass(frozen=True, slots=True)
class Standing:
    """One place on the leaderboard: 1 is the top."""

    rank: int
    user_id: int
    name: str
    earnings: Decimal


@dataclass(frozen=True, slots=True)
class RankReward:
    """What the app promises the user who finishes the week at ``rank``, in app currency."""

    rank: int
    reward: Decimal


def week_start(at: datetime) -> datetime:
    """Monday 00:00 UTC of the week ``at`` falls in (``at`` itself when it is that moment)."""
    utc = _utc(at)
    monday = utc.date() - timedelta(days=utc.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


def next_reset(at: datetime) -> datetime:
    """When the leaderboard ``at`` reads starts over: the next Monday 00:00 UTC."""
    return week_start(at) + WEEK


def rank(totals: Iterable[WeeklyTotal]) -> tuple[Standing, ...]:
    """Every user who earned more than nothing, best first, ranked 1, 2, 3, …"""
    earning = (total for total in totals if total.earnings > 0)
    ordered = sorted(earning, key=lambda t: (-t.earnings, t.reached_at, t.user_id))
    return tuple(
        Standing(place, total.user_id, total.name, total.earnings)
        for place, total in enumerate(ordered, start=1)
    )


def rank_rewards(rewards: Sequence[Decimal]) -> tuple[RankReward, ...]:
    """The app's ``leaderboard_rewards`` (rank 1 first) as the ranks they go to."""
    return tuple(RankReward(place, reward) for place, reward in enumerate(rewards, start=1))


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        # A naive time could be any zone's: the week would start at a guess.
        raise ValueError(f"{at!r} has no time zone")
    return at.astimezone(UTC)
