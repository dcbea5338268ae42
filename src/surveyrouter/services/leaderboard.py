"""The weekly leaderboard an app's user sees (client API §2.4): the top ten this week, their
own place, and what the app promises each rank."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.apps import App
from surveyrouter.domain.leaderboard import (
    TOP_SIZE,
    RankReward,
    Standing,
    next_reset,
    rank_rewards,
    week_start,
)
from surveyrouter.domain.users import User
from surveyrouter.store.leaderboard import standing_of, top_standings


class LeaderboardDisabled(LookupError):
    """The app has not switched its leaderboard on."""


@dataclass(frozen=True, slots=True)
class Leaderboard:
    """``own`` is None when the user takes no part this week (no username, nothing earned)."""

    next_reset_at: datetime
    top: tuple[Standing, ...]
    own: Standing | None
    rewards: tuple[RankReward, ...]


def weekly_leaderboard(
    sessions: sessionmaker[Session], app: App, user: User, now: datetime
) -> Leaderboard:
    """This week's leaderboard as ``user`` sees it at ``now``; raises ``LeaderboardDisabled``."""
    if not app.leaderboard_enabled or app.id is None:
        raise LeaderboardDisabled("leaderboard is disabled for this app")
    since, until = week_start(now), next_reset(now)
    with sessions() as session:
        top = tuple(top_standings(session, app.id, since, until, TOP_SIZE))
        # A user in the top ten is read off that list, so their two places always agree.
        own = next((standing for standing in top if standing.user_id == user.id), None)
        if own is None:
            own = standing_of(session, app.id, user.id, since, until)
    return Leaderboard(until, top, own, rank_rewards(app.leaderboard_rewards))
