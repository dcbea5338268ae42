"""The weekly leaderboard over real HTTP, on SQLite and PostgreSQL: this week's ledger totals
ranked in SQL, the caller's own place, the app's prizes (client API §2.4).

The server reads the wall clock, so entries are written relative to the week it is in now:
a few seconds after this Monday 00:00 UTC for this week, before it for last week; a test that
would start in the last two minutes of a week waits for the next (``week_with_time_left``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.apps import App
from surveyrouter.domain.leaderboard import WeeklyTotal, next_reset, rank, week_start
from surveyrouter.domain.money import Reward, RewardKind
from surveyrouter.domain.users import User
from surveyrouter.services.apps import change_app
from surveyrouter.services.apps import create_app as create_publisher_app
from surveyrouter.services.rewards import record_reward, reverse_complete
from surveyrouter.store.db import transaction
from surveyrouter.store.leaderboard import standing_of, top_standings
from surveyrouter.store.ledger import user_entries
from surveyrouter.store.users import remember_context, user_on_sight
from tests.clock import Clock
from tests.integration.test_server import assert_error_envelope, serving

TOKEN = "leaderboard-api-token-01"
REWARDS = (Decimal(1000), Decimal(500), Decimal(250))


@dataclass
class Board:
    runtime: Runtime
    publisher: App
    url: str
    this_week: datetime

    def user(self, uid: str, username: str | None = None) -> User:
        assert self.publisher.id is not None
        with transaction(self.runtime.sessions) as session:
            user, _ = user_on_sight(session, self.publisher.id, uid, self.this_week)
            if username is not None:
                remember_context(session, user.id, self.this_week, username=username)
        return user

    def pay(
        self, user: User, value: int, at: datetime, kind: RewardKind = RewardKind.COMPLETE
    ) -> str:
        """A reward of ``value`` points written at ``at``; its transaction id."""
        tx = f"tx{random.getrandbits(64):016x}"
        reward = Reward(kind, Decimal(value) / 1000, Decimal(value))
        with transaction(self.runtime.sessions) as session:
            record_reward(session, self.publisher, user, reward, tx, at)
        return tx

    def get(self, uid: str) -> httpx.Response:
        headers = {"X-Api-Token": TOKEN, "X-User-Id": uid}
        return httpx.get(f"{self.url}/v1/client/leaderboard", headers=headers)

    def read(self, uid: str) -> dict[str, Any]:
        response = self.get(uid)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "success"
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
def board(runtime: Runtime) -> Iterator[Board]:
    publisher = create_publisher_app(
        runtime.sessions,
        lambda: datetime.now(UTC),
        {
            "name": "Leaderboard Wall",
            "api_token": TOKEN,
            "leaderboard_enabled": True,
            "leaderboard_rewards": REWARDS,
        },
    )
    with serving(create_app(runtime)) as url:
        yield Board(runtime, publisher, url, week_with_time_left())


def week_with_time_left(margin: timedelta = timedelta(minutes=2)) -> datetime:
    """The start of the week it is now, once that week has ``margin`` left: the server reads
    the clock on every request, so a test running across Monday 00:00 UTC would write its
    entries in one week and read the board of the next."""
    now = datetime.now(UTC)
    left = next_reset(week_start(now)) - now
    if left < margin:
        time.sleep(left.total_seconds() + 1)
        now = datetime.now(UTC)
    return week_start(now)


def names(data: dict[str, Any]) -> list[tuple[int, str, float]]:
    return [(u["rank"], u["name"], u["earnings_raw"]) for u in data["top_users"]]


def test_only_this_weeks_earnings_count_and_the_board_resets_next_monday(board: Board) -> None:
    alice, bob, carol = board.user("a", "alice"), board.user("b", "bob"), board.user("c", "carol")
    board.pay(alice, 5000, board.this_week - timedelta(hours=1))  # last week
    board.pay(alice, 100, board.this_week + timedelta(seconds=1))
    board.pay(bob, 540, board.this_week)  # Monday 00:00 exactly is this week
    board.pay(bob, 20, board.this_week + timedelta(seconds=2), RewardKind.SCREENOUT)
    board.pay(carol, 300, board.this_week + timedelta(seconds=3), RewardKind.START_BONUS)
    data = board.read("a")
    assert names(data) == [(1, "bob", 560), (2, "carol", 300), (3, "alice", 100)]
    assert data["own_user"] == {"rank": 3, "name": "alice", "earnings_raw": 100}
    reset = next_reset(board.this_week)
    assert data["next_reset_at"] == reset.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert datetime.fromisoformat(data["next_reset_at"]).weekday() == 0
    assert isinstance(data["top_users"][0]["earnings_raw"], float)  # the SDKs' Double


def test_the_top_ten_are_listed_and_a_caller_below_them_sees_their_own_rank(
    board: Board,
) -> None:
    for place in range(1, 13):
        user = board.user(f"u{place}", f"player{place}")
        board.pay(user, 1300 - 100 * place, board.this_week + timedelta(seconds=place))
    data = board.read("u12")
    assert [u["rank"] for u in data["top_users"]] == list(range(1, 11))
    assert [u["name"] for u in data["top_users"]] == [f"player{n}" for n in range(1, 11)]
    assert data["own_user"] == {"rank": 12, "name": "player12", "earnings_raw": 100}
    assert board.read("u4")["own_user"] == {"rank": 4, "name": "player4", "earnings_raw": 900}


def test_equal_earnings_rank_whoever_reached_them_first(board: Board) -> None:
    early, late = board.user("early", "early"), board.user("late", "late")
    board.pay(late, 300, board.this_week + timedelta(seconds=1))
    board.pay(early, 500, board.this_week + timedelta(seconds=2))
    board.pay(late, 200, board.this_week + timedelta(seconds=3))  # reaches 500 second
    data = board.read("late")
    assert names(data) == [(1, "early", 500), (2, "late", 500)]
    assert data["own_user"]["rank"] == 2


def test_a_reconciliation_this_week_takes_its_complete_back(board: Board) -> None:
    dora, erin, fay = board.user("d", "dora"), board.user("e", "erin"), board.user("f", "fay")
    kept = board.this_week + timedelta(seconds=1)
    board.pay(dora, 860, kept)
    reversed_tx = board.pay(dora, 540, kept)
    board.pay(erin, 700, kept)
    lost_tx = board.pay(fay, 400, board.this_week + timedelta(seconds=2))
    old_tx = board.pay(fay, 900, board.this_week - timedelta(days=2))  # last week
    for tx in (reversed_tx, lost_tx, old_tx):
        reverse_complete(board.runtime.sessions, tx, "client rejected", lambda: kept)
    assert names(board.read("d")) == [(1, "dora", 860), (2, "erin", 700)]
    assert board.read("f")["own_user"] is None  # 400 − 400 − 900 this week: nothing earned


def test_users_without_a_username_are_not_ranked_and_see_no_own_place(board: Board) -> None:
    named, anonymous = board.user("n", "named"), board.user("anon")
    board.pay(anonymous, 9000, board.this_week + timedelta(seconds=1))
    board.pay(named, 10, board.this_week + timedelta(seconds=2))
    assert board.read("n")["own_user"] == {"rank": 1, "name": "named", "earnings_raw": 10}
    data = board.read("anon")
    assert names(data) == [(1, "named", 10)]
    assert data["own_user"] is None


def test_a_new_user_sees_the_board_without_a_place_and_the_apps_rewards(board: Board) -> None:
    data = board.read("newcomer")
    assert data["top_users"] == []
    assert data["own_user"] is None
    assert data["rewards"] == [
        {"rank": 1, "reward_raw": 1000},
        {"rank": 2, "reward_raw": 500},
        {"rank": 3, "reward_raw": 250},
    ]


def test_another_apps_earnings_do_not_count(board: Board, runtime: Runtime) -> None:
    other = create_publisher_app(
        runtime.sessions,
        lambda: datetime.now(UTC),
        {"name": "Other", "api_token": "other-app-api-token-1", "leaderboard_enabled": True},
    )
    assert other.id is not None
    with transaction(runtime.sessions) as session:
        stranger, _ = user_on_sight(session, other.id, "s", board.this_week)
        remember_context(session, stranger.id, board.this_week, username="stranger")
        reward = Reward(RewardKind.COMPLETE, Decimal(1), Decimal(1000))
        record_reward(session, other, stranger, reward, "othertx1", board.this_week)
    assert board.read("me")["top_users"] == []


def test_a_disabled_leaderboard_is_404_in_the_envelope(board: Board) -> None:
    assert board.publisher.id is not None
    change_app(
        board.runtime.sessions,
        lambda: datetime.now(UTC),
        board.publisher.id,
        {"leaderboard_enabled": False},
    )
    body = assert_error_envelope(board.get("a"), "404 Not Found")
    assert body["error"]["details"]["msg"] == "leaderboard is disabled for this app"  # type: ignore[index]


def test_a_call_without_credentials_is_401_in_the_envelope(board: Board) -> None:
    response = httpx.get(f"{board.url}/v1/client/leaderboard")
    assert response.status_code == 401
    assert_error_envelope(response, "401 Unauthorized")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_sql_ranking_agrees_with_the_rule_on_random_weeks(board: Board, seed: int) -> None:
    """Totals from few amounts and few moments, so ties on both are common; the SQL top ten
    and every user's own place match ``domain.leaderboard.rank`` over the same entries."""
    chance = random.Random(seed)
    # Every fifth user has no username, and so no place.
    racers = {n: f"racer{n}" if n % 5 else None for n in range(1, 16)}
    users = {n: board.user(f"r{n}", name) for n, name in racers.items()}
    for user in users.values():
        for _ in range(chance.randint(0, 3)):
            moment = board.this_week + timedelta(seconds=chance.choice([-60, 1, 2, 3]))
            tx = board.pay(user, chance.choice([100, 200, 300]), moment)
            if chance.random() < 0.2:
                reverse_complete(board.runtime.sessions, tx, "audit", Clock(moment))
    assert board.publisher.id is not None
    since, until = board.this_week, next_reset(board.this_week)
    with board.runtime.sessions() as session:
        totals = []
        for n, user in users.items():
            name = racers[n]
            week = [e for e in user_entries(session, user.id) if since <= e.created_at < until]
            if name is not None and week:
                earned = sum((e.reward.value for e in week), Decimal(0))
                reached = max(e.created_at for e in week)
                totals.append(WeeklyTotal(user.id, name, earned, reached))
        expected = rank(totals)
        assert top_standings(session, board.publisher.id, since, until, 10) == list(expected[:10])
        places = {standing.user_id: standing for standing in expected}
        for user in users.values():
            own = standing_of(session, board.publisher.id, user.id, since, until)
            assert own == places.get(user.id)
