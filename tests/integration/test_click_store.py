"""Clicks and impressions on SQLite and PostgreSQL: written and read back whole, ended once
(the first outcome wins), left, counted per opportunity for ranking; impressions added up per
UTC hour."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.apps import App
from surveyrouter.domain.clicks import (
    Click,
    ClickStatus,
    LeaveReason,
    OutcomeSource,
    new_click_id,
)
from surveyrouter.domain.money import Reward, RewardKind
from surveyrouter.domain.ranking import ObservedOutcomes
from surveyrouter.domain.users import User
from surveyrouter.services.apps import create_app
from surveyrouter.services.rewards import record_reward, reverse_complete
from surveyrouter.store.clicks import (
    add_click,
    end_click,
    get_click,
    leave_click,
    observed_outcomes,
    user_clicks,
)
from surveyrouter.store.db import transaction
from surveyrouter.store.impressions import Impression, count_impressions, impressions
from surveyrouter.store.users import user_on_sight

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
OPPORTUNITY = 5001


@pytest.fixture
def publisher(runtime: Runtime) -> App:
    return create_app(runtime.sessions, lambda: T0, {"name": "Quiz"})


@pytest.fixture
def user(runtime: Runtime, publisher: App) -> User:
    assert publisher.id is not None
    with transaction(runtime.sessions) as session:
        return user_on_sight(session, publisher.id, "user-1", T0)[0]


def new_click(
    user: User,
    *,
    created_at: datetime = T0,
    network_id: str = "sandbox",
    opportunity_id: int = OPPORTUNITY,
    loi_minutes: int = 10,
) -> Click:
    return Click(
        id=new_click_id(),
        app_id=user.app_id,
        user_id=user.id,
        network_id=network_id,
        opportunity_id=opportunity_id,
        exchange_cpi=Decimal("1.2345"),
        loi_minutes=loi_minutes,
        created_at=created_at,
        project_id=77,
        category_ids=(3, 14),
    )


def stored(runtime: Runtime, *clicks: Click) -> None:
    with transaction(runtime.sessions) as session:
        for click in clicks:
            add_click(session, click)


def end(
    runtime: Runtime,
    click: Click,
    status: ClickStatus,
    ending: tuple[int, int],
    source: OutcomeSource = OutcomeSource.RETURN,
    at: datetime = T0 + timedelta(minutes=12),
) -> bool:
    with transaction(runtime.sessions) as session:
        return end_click(session, click.id, status, *ending, source, at)


def read(runtime: Runtime, click_id: str) -> Click | None:
    with runtime.sessions() as session:
        return get_click(session, click_id)


def test_a_click_reads_back_as_it_was_written(runtime: Runtime, user: User) -> None:
    click = new_click(user)
    stored(runtime, click)
    assert read(runtime, click.id) == click
    assert read(runtime, "0" * 32) is None
    with transaction(runtime.sessions) as session:
        assert get_click(session, click.id, for_update=True) == click


def test_a_users_clicks_come_oldest_first(runtime: Runtime, user: User) -> None:
    later = new_click(user, created_at=T0 + timedelta(minutes=5))
    earlier = new_click(user, created_at=T0)
    stored(runtime, later, earlier)
    with runtime.sessions() as session:
        assert [c.id for c in user_clicks(session, user.id)] == [earlier.id, later.id]
        assert user_clicks(session, user.id + 1000) == []


def test_the_first_outcome_ends_the_click_and_a_second_changes_nothing(
    runtime: Runtime, user: User
) -> None:
    click = new_click(user)
    stored(runtime, click)
    first_at = T0 + timedelta(minutes=12)
    assert end(runtime, click, ClickStatus.COMPLETE, (1, 0), OutcomeSource.CALLBACK, first_at)
    assert not end(runtime, click, ClickStatus.SCREENOUT, (2, 2), OutcomeSource.RETURN)
    assert read(runtime, click.id) == dataclasses.replace(
        click,
        status=ClickStatus.COMPLETE,
        ended_at=first_at,
        disposition=1,
        disposition_status=0,
        outcome_source=OutcomeSource.CALLBACK,
    )


def test_an_unknown_click_is_not_ended_and_an_open_status_is_no_outcome(
    runtime: Runtime, user: User
) -> None:
    assert not end(runtime, new_click(user), ClickStatus.COMPLETE, (1, 0))
    with transaction(runtime.sessions) as session, pytest.raises(ValueError, match="outcome"):
        end_click(session, "x", ClickStatus.LEFT, 1, 0, OutcomeSource.RETURN, T0)


def test_leaving_marks_the_latest_started_click_and_an_outcome_still_ends_it(
    runtime: Runtime, user: User
) -> None:
    older = new_click(user, created_at=T0)
    latest = new_click(user, created_at=T0 + timedelta(minutes=1))
    elsewhere = new_click(user, opportunity_id=OPPORTUNITY + 1)
    stored(runtime, older, latest, elsewhere)
    left_at = T0 + timedelta(minutes=3)
    with transaction(runtime.sessions) as session:
        left = leave_click(session, user.id, "sandbox", OPPORTUNITY, LeaveReason.TOO_LONG, left_at)
    assert left == dataclasses.replace(
        latest, status=ClickStatus.LEFT, left_at=left_at, leave_reason=LeaveReason.TOO_LONG
    )
    assert read(runtime, older.id) == older
    assert read(runtime, elsewhere.id) == elsewhere
    # A left click is abandoned, yet the exchange's outcome still ends it (and pays).
    assert end(runtime, latest, ClickStatus.COMPLETE, (1, 0))
    ended = read(runtime, latest.id)
    assert ended is not None
    assert ended.status is ClickStatus.COMPLETE
    assert ended.leave_reason is LeaveReason.TOO_LONG


def test_leaving_needs_a_started_click_on_that_opportunity(runtime: Runtime, user: User) -> None:
    ended = new_click(user)
    stored(runtime, ended)
    end(runtime, ended, ClickStatus.SCREENOUT, (2, 1))
    with transaction(runtime.sessions) as session:
        assert leave_click(session, user.id, "sandbox", OPPORTUNITY, LeaveReason.OTHER, T0) is None
        assert leave_click(session, user.id, "rex", OPPORTUNITY, LeaveReason.OTHER, T0) is None
        assert leave_click(session, user.id, "sandbox", 1, LeaveReason.OTHER, T0) is None


def test_observed_outcomes_count_each_ending_per_opportunity(
    runtime: Runtime, publisher: App, user: User
) -> None:
    now = T0 + timedelta(hours=2)
    endings = [
        (ClickStatus.COMPLETE, (1, 0)),
        (ClickStatus.COMPLETE, (1, 1)),
        (ClickStatus.COMPLETE, (1, 0)),
        (ClickStatus.SCREENOUT, (2, 2)),
        (ClickStatus.DUPLICATE, (4, 1)),  # turned away at the door: a screenout
        (ClickStatus.OVERQUOTA, (3, 1)),
        (ClickStatus.QUALITY, (5, 2)),
        (ClickStatus.ERROR, (0, 0)),  # the exchange could not say: an abandon
    ]
    ended = [new_click(user) for _ in endings]
    left = new_click(user, created_at=now - timedelta(minutes=1))
    running = new_click(user, created_at=now - timedelta(minutes=59))
    # 30 minutes' LOI: abandoned 90 minutes after the click, to the microsecond.
    at_its_time = new_click(user, created_at=now - timedelta(minutes=90), loi_minutes=30)
    just_before = new_click(
        user, created_at=now - timedelta(minutes=90) + timedelta(microseconds=1), loi_minutes=30
    )
    timed_out = new_click(user, created_at=now - timedelta(hours=2), loi_minutes=10)
    too_old = new_click(user, created_at=T0 - timedelta(days=8))
    on_rex = new_click(user, network_id="rex", opportunity_id=OPPORTUNITY)
    stored(runtime, *ended, left, running, at_its_time, just_before, timed_out, too_old, on_rex)
    for click, (status, ending) in zip(ended, endings, strict=True):
        assert end(runtime, click, status, ending)
    end(runtime, on_rex, ClickStatus.COMPLETE, (1, 0))
    with transaction(runtime.sessions) as session:
        leave_click(session, user.id, "sandbox", OPPORTUNITY, LeaveReason.OTHER, now)
    # The first complete was paid and then reversed; the second paid only.
    paid = Reward(RewardKind.COMPLETE, Decimal("0.86"), Decimal(860))
    with transaction(runtime.sessions) as session:
        for click in ended[:2]:
            record_reward(session, publisher, user, paid, click.id, now)
    reverse_complete(runtime.sessions, ended[0].id, "client rejected", lambda: now)

    with runtime.sessions() as session:
        observed = observed_outcomes(session, T0 - timedelta(days=7), now)

    assert observed == {
        ("sandbox", OPPORTUNITY): ObservedOutcomes(
            entries=13,
            completes=3,
            screenouts=2,
            overquotas=1,
            quality=1,
            # error, left, at its time, timed out; not the one still running, not just_before
            abandons=4,
            reversals=1,
        ),
        ("rex", OPPORTUNITY): ObservedOutcomes(entries=1, completes=1),
    }


def test_observed_outcomes_of_no_clicks_are_empty(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        assert observed_outcomes(session, T0, T0) == {}


def test_impressions_add_up_per_network_and_utc_hour(runtime: Runtime, publisher: App) -> None:
    other = create_app(runtime.sessions, lambda: T0, {"name": "Other"})
    assert publisher.id is not None
    assert other.id is not None
    with transaction(runtime.sessions) as session:
        count_impressions(session, publisher.id, {"sandbox": 3, "rex": 0}, T0)
        count_impressions(
            session, publisher.id, {"sandbox": 2, "rex": 1}, T0 + timedelta(minutes=59)
        )
        count_impressions(session, publisher.id, {"sandbox": 4}, T0 + timedelta(hours=1))
        count_impressions(session, other.id, {"sandbox": 9}, T0)
        count_impressions(session, publisher.id, {}, T0)
    with transaction(runtime.sessions) as session:
        # A later transaction adds to the same bucket; a time in another zone is its UTC hour.
        elsewhere = (T0 + timedelta(minutes=30)).astimezone(timezone(timedelta(hours=-5)))
        count_impressions(session, publisher.id, {"sandbox": 10}, elsewhere)
    with runtime.sessions() as session:
        assert impressions(session, publisher.id) == [
            Impression("rex", T0, 1),
            Impression("sandbox", T0, 15),
            Impression("sandbox", T0 + timedelta(hours=1), 4),
        ]
        assert impressions(session, other.id) == [Impression("sandbox", T0, 9)]


def test_a_negative_impression_count_is_refused(runtime: Runtime, publisher: App) -> None:
    assert publisher.id is not None
    with transaction(runtime.sessions) as session, pytest.raises(ValueError, match="negative"):
        count_impressions(session, publisher.id, {"sandbox": -1}, T0)
