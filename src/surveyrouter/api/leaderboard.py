"""``GET /v1/client/leaderboard``: this week's top earners, the caller's place and the prizes
(client API §2.4)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, PlainSerializer

from surveyrouter.api.client_context import AuthenticatedCallDep, ClientRoute, resolve_unrestricted
from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.api.envelope import Envelope, ok
from surveyrouter.clock import utc_now
from surveyrouter.domain.leaderboard import Standing
from surveyrouter.services.leaderboard import (
    Leaderboard,
    LeaderboardDisabled,
    weekly_leaderboard,
)

router = APIRouter(prefix="/v1/client", tags=["client"], route_class=ClientRoute)

# §2.4: the SDKs decode ``*_raw`` as a Double, so the exact amount becomes a JSON number here,
# at the wire, and nowhere before.
RawAmount = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class LeaderboardUser(BaseModel):
    rank: int
    name: str
    earnings_raw: RawAmount


class LeaderboardReward(BaseModel):
    rank: int
    reward_raw: RawAmount


class LeaderboardOut(BaseModel):
    next_reset_at: str  # RFC 3339
    top_users: list[LeaderboardUser]
    own_user: LeaderboardUser | None
    rewards: list[LeaderboardReward]


@router.get("/leaderboard")
def get_leaderboard(client: AuthenticatedCallDep, runtime: RuntimeDep) -> Envelope[LeaderboardOut]:
    """This week's (Monday 00:00 UTC on) ten best-earning named users, the caller's place
    (null if they earned nothing this week or have no username) and each rank's prize. 404
    when the app has no leaderboard."""
    call = resolve_unrestricted(client)
    try:
        board = weekly_leaderboard(runtime.sessions, call.caller.app, call.caller.user, utc_now())
    except LeaderboardDisabled as error:
        raise HTTPException(404, str(error)) from error
    return ok(_leaderboard(board))


def _leaderboard(board: Leaderboard) -> LeaderboardOut:
    return LeaderboardOut(
        next_reset_at=_rfc3339(board.next_reset_at),
        top_users=[_user(standing) for standing in board.top],
        own_user=None if board.own is None else _user(board.own),
        rewards=[LeaderboardReward(rank=r.rank, reward_raw=r.reward) for r in board.rewards],
    )


def _user(standing: Standing) -> LeaderboardUser:
    return LeaderboardUser(rank=standing.rank, name=standing.name, earnings_raw=standing.earnings)


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
