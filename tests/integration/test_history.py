"""The user's survey history over real HTTP, on SQLite and PostgreSQL: one event per survey,
newest first, from their clicks and what the ledger paid and took back (client API §2.7)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import SANDBOX, Runtime
from surveyrouter.domain.apps import App
from surveyrouter.domain.clicks import Click, ClickStatus, LeaveReason, OutcomeSource, new_click_id
from surveyrouter.domain.money import Reward, RewardKind
from surveyrouter.domain.users import User
from surveyrouter.services.apps import change_app
from surveyrouter.services.apps import create_app as create_publisher_app
from surveyrouter.services.history import MAX_EVENTS
from surveyrouter.services.rewards import record_reward, reverse_complete
from surveyrouter.store.clicks import add_click
from surveyrouter.store.db import transaction
from surveyrouter.store.users import user_on_sight
from tests.integration.test_server import assert_error_envelope, serving

TOKEN = "history-wall-api-token-1"
UID = "user-1"
# The REX disposition each ending arrives with (REX §6.5).
ENDINGS = {
    ClickStatus.COMPLETE: (1, 0),
    ClickStatus.SCREENOUT: (2, 2),
    ClickStatus.OVERQUOTA: (3, 2),
    ClickStatus.DUPLICATE: (2, 5),
    ClickStatus.QUALITY: (2, 7),
    ClickStatus.ERROR: (4, 0),
}


@dataclass
class Wall:
    runtime: Runtime
    publisher: App
    user: User
    url: str
    now: datetime

    def visit(
        self,
        opportunity_id: int,
        minutes_ago: float,
        status: ClickStatus = ClickStatus.STARTED,
        *,
        lasted_minutes: float = 5,
        paid: int | None = None,
        category_ids: tuple[int, ...] = (550,),
    ) -> Click:
        """A click ``minutes_ago``; an ending or a leave ``lasted_minutes`` later; a reward of
        ``paid`` points for it (a complete's or screenout's, on the click id)."""
        created = self.now - timedelta(minutes=minutes_ago)
        ended = created + timedelta(minutes=lasted_minutes)
        disposition, disposition_status = ENDINGS.get(status, (None, None))
        click = Click(
            id=new_click_id(),
            app_id=self.user.app_id,
            user_id=self.user.id,
            network_id=SANDBOX.id,
            opportunity_id=opportunity_id,
            exchange_cpi=Decimal("0.77"),
            loi_minutes=10,
            created_at=created,
            category_ids=category_ids,
            status=status,
            ended_at=None if status.is_open else ended,
            disposition=disposition,
            disposition_status=disposition_status,
            outcome_source=None if status.is_open else OutcomeSource.RETURN,
            left_at=ended if status is ClickStatus.LEFT else None,
            leave_reason=LeaveReason.TOO_LONG if status is ClickStatus.LEFT else None,
        )
        with transaction(self.runtime.sessions) as session:
            add_click(session, click)
            if paid is not None:
                kind = (
                    RewardKind.COMPLETE if status is ClickStatus.COMPLETE else RewardKind.SCREENOUT
                )
                reward = Reward(kind, Decimal(paid) / 1000, Decimal(paid))
                record_reward(session, self.publisher, self.user, reward, click.id, ended)
        return click

    def get(self, uid: str = UID, **params: Any) -> httpx.Response:
        headers = {"X-Api-Token": TOKEN, "X-User-Id": uid}
        return httpx.get(f"{self.url}/v1/client/user/history", headers=headers, params=params)

    def history(self, **params: Any) -> list[dict[str, Any]]:
        response = self.get(**params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "success"
        events: list[dict[str, Any]] = body["data"]
        return events


@pytest.fixture
def wall(runtime: Runtime) -> Iterator[Wall]:
    now = datetime.now(UTC)
    publisher = create_publisher_app(
        runtime.sessions, lambda: now, {"name": "History Wall", "api_token": TOKEN}
    )
    assert publisher.id is not None
    with transaction(runtime.sessions) as session:
        user, _ = user_on_sight(session, publisher.id, UID, now - timedelta(days=3))
    with serving(create_app(runtime)) as url:
        yield Wall(runtime, publisher, user, url, now)


def summary(events: list[dict[str, Any]]) -> list[tuple[int, str, str | None, str | None]]:
    return [(e["survey_id"], e["type"], e["user_value"], e["duration"]) for e in events]


def test_each_survey_is_one_event_newest_first_in_the_type_its_visit_ended_as(
    wall: Wall,
) -> None:
    wall.visit(9001, minutes_ago=2 * 24 * 60)  # never came back: abandoned
    wall.visit(9002, minutes_ago=400, status=ClickStatus.SCREENOUT)
    wall.visit(9002, minutes_ago=300, status=ClickStatus.LEFT, lasted_minutes=2)
    wall.visit(9003, minutes_ago=200, status=ClickStatus.SCREENOUT, lasted_minutes=3, paid=20)
    wall.visit(9004, minutes_ago=150, status=ClickStatus.OVERQUOTA)
    wall.visit(9005, minutes_ago=120, status=ClickStatus.LEFT)
    wall.visit(9005, minutes_ago=100, status=ClickStatus.COMPLETE, lasted_minutes=10, paid=540)
    wall.visit(9005, minutes_ago=90)  # a complete still stands for its survey
    wall.visit(9007, minutes_ago=60, status=ClickStatus.DUPLICATE)
    wall.visit(9008, minutes_ago=50, status=ClickStatus.QUALITY)
    wall.visit(9009, minutes_ago=40, status=ClickStatus.ERROR, lasted_minutes=0.5)
    wall.visit(9006, minutes_ago=5)  # still in the survey
    assert summary(wall.history()) == [
        (9006, "OPEN", None, None),
        (9009, "SCREENOUT", "0", "30"),
        (9008, "SCREENOUT", "0", "300"),
        (9007, "SCREENOUT", "0", "300"),
        (9005, "COMPLETE", "540", "600"),
        (9004, "SCREENOUT", "0", "300"),
        (9003, "SCREENOUT", "20", "180"),
        (9002, "LEAVE", None, "120"),
        (9001, "LEAVE", None, None),  # abandoned when time ran out: nobody knows when
    ]


def test_an_event_names_its_click_category_and_network_as_the_spec_lays_it_out(
    wall: Wall,
) -> None:
    click = wall.visit(9001, minutes_ago=30, status=ClickStatus.COMPLETE, paid=540)
    (event,) = wall.history()
    assert event == {
        "type": "COMPLETE",
        "survey_id": 9001,
        "tx_id": click.id,
        "details": {
            "category": {
                "name": "Automotive",
                "icon_url": "categories/automotive.svg",
                "name_internal": "automotive",
            },
            "network": {"name": SANDBOX.name, "icon_url": ""},
        },
        "user_value": "540",
        "rating": None,
        "created_at": click.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration": "300",
        "reconciled": False,
        "callback_delay_seconds": 0,
    }


def test_categories_are_named_in_the_users_language_and_unknown_ones_as_other(
    wall: Wall,
) -> None:
    wall.visit(9001, minutes_ago=30)
    wall.visit(9002, minutes_ago=20, category_ids=(9999,))
    events = wall.history(lang="de")
    assert [e["details"]["category"]["name"] for e in events] == ["Sonstiges", "Auto & Motor"]
    assert events[0]["details"]["category"]["name_internal"] == "other"


def test_a_reversed_complete_is_reconciled_and_still_shows_what_it_paid(wall: Wall) -> None:
    kept = wall.visit(9001, minutes_ago=60, status=ClickStatus.COMPLETE, paid=540)
    reversed_ = wall.visit(9002, minutes_ago=30, status=ClickStatus.COMPLETE, paid=860)
    reverse_complete(wall.runtime.sessions, reversed_.id, "client rejected", lambda: wall.now)
    events = wall.history()
    assert [(e["tx_id"], e["user_value"], e["reconciled"]) for e in events] == [
        (reversed_.id, "860", True),
        (kept.id, "540", False),
    ]


def test_values_are_shown_to_the_places_the_app_shows(wall: Wall) -> None:
    assert wall.publisher.id is not None
    change_app(
        wall.runtime.sessions,
        lambda: wall.now,
        wall.publisher.id,
        {"currency_whole_units": False},
    )
    click = wall.visit(9001, minutes_ago=30, status=ClickStatus.COMPLETE)
    with transaction(wall.runtime.sessions) as session:
        reward = Reward(RewardKind.COMPLETE, Decimal("0.54"), Decimal("1.50"))
        record_reward(session, wall.publisher, wall.user, reward, click.id, wall.now)
    assert wall.history()[0]["user_value"] == "1.50"  # the ledger keeps 1.5


@pytest.mark.parametrize("kinds", [None, ["surveys"], ["offers", "surveys"]])
def test_surveys_are_listed_unless_a_filter_leaves_them_out(
    wall: Wall, kinds: list[str] | None
) -> None:
    wall.visit(9001, minutes_ago=30)
    params = {} if kinds is None else {"filter": kinds}
    assert [e["survey_id"] for e in wall.history(**params)] == [9001]


@pytest.mark.parametrize("kind", ["offers", "magic_receipts", "others", "cashback", "promotions"])
def test_kinds_of_history_the_router_has_no_demand_for_are_empty(wall: Wall, kind: str) -> None:
    wall.visit(9001, minutes_ago=30)
    assert wall.history(filter=kind) == []


def test_an_unknown_filter_is_422_in_the_envelope(wall: Wall) -> None:
    body = assert_error_envelope(wall.get(filter="games"), "422 Unprocessable Entity")
    assert "filter" in str(body["error"]["details"]["msg"])  # type: ignore[index]


def test_the_newest_hundred_surveys_are_listed(wall: Wall) -> None:
    for survey in range(MAX_EVENTS + 5):
        wall.visit(10_000 + survey, minutes_ago=1000 - survey)
    events = wall.history()
    assert len(events) == MAX_EVENTS == 100
    assert events[0]["survey_id"] == 10_000 + MAX_EVENTS + 4
    assert events[-1]["survey_id"] == 10_005


def test_a_user_sees_only_their_own_history(wall: Wall) -> None:
    wall.visit(9001, minutes_ago=30, status=ClickStatus.COMPLETE, paid=540)
    response = wall.get(uid="someone-else")
    assert response.status_code == 200
    assert response.json()["data"] == []


def test_a_call_without_credentials_is_401_in_the_envelope(wall: Wall) -> None:
    response = httpx.get(f"{wall.url}/v1/client/user/history")
    assert response.status_code == 401
    assert_error_envelope(response, "401 Unauthorized")
