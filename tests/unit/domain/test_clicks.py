"""Clicks: when one is abandoned, which endings exclude the user (REX §3.1), and the
participation history targeting reads from them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from surveyrouter.domain.clicks import (
    Click,
    ClickStatus,
    LeaveReason,
    OutcomeSource,
    abandon_after,
    new_click_id,
    participation,
)
from surveyrouter.domain.outcome import Outcome
from surveyrouter.domain.profile import Participation

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


def click(
    *,
    loi_minutes: int = 10,
    project_id: int | None = 7,
    category_ids: tuple[int, ...] = (40, 41),
    status: ClickStatus = ClickStatus.STARTED,
    ending: tuple[int, int] | None = None,
) -> Click:
    disposition, disposition_status = ending if ending is not None else (None, None)
    return Click(
        id=new_click_id(),
        app_id=1,
        user_id=1,
        network_id="sandbox",
        opportunity_id=1001,
        exchange_cpi=Decimal("1.50"),
        loi_minutes=loi_minutes,
        created_at=T0,
        project_id=project_id,
        category_ids=category_ids,
        status=status,
        ended_at=None if ending is None else T0 + timedelta(minutes=5),
        disposition=disposition,
        disposition_status=disposition_status,
        outcome_source=None if ending is None else OutcomeSource.RETURN,
    )


@pytest.mark.parametrize(
    ("loi_minutes", "minutes"),
    [(0, 60), (5, 60), (20, 60), (21, 63), (30, 90), (45, 135), (-5, 60)],
)
def test_a_click_is_abandoned_after_three_times_its_loi_but_never_before_an_hour(
    loi_minutes: int, minutes: int
) -> None:
    assert abandon_after(loi_minutes) == timedelta(minutes=minutes)


def test_a_started_click_is_abandoned_from_its_abandon_time_on() -> None:
    started = click(loi_minutes=30)
    assert started.abandon_at == T0 + timedelta(minutes=90)
    assert not started.is_abandoned(T0 + timedelta(minutes=90) - timedelta(microseconds=1))
    assert started.is_abandoned(T0 + timedelta(minutes=90))


def test_a_left_click_is_abandoned_at_once() -> None:
    left = dataclasses.replace(
        click(), status=ClickStatus.LEFT, left_at=T0, leave_reason=LeaveReason.TOO_LONG
    )
    assert left.status.is_open
    assert left.is_abandoned(T0)


@pytest.mark.parametrize(
    "status", [s for s in ClickStatus if s not in (ClickStatus.STARTED, ClickStatus.LEFT)]
)
def test_a_click_with_an_outcome_is_never_abandoned(status: ClickStatus) -> None:
    ended = click(status=status, ending=(1, 0))
    assert not ended.status.is_open
    assert not ended.is_abandoned(T0 + timedelta(days=30))


@pytest.mark.parametrize(
    ("status", "ending", "excludes"),
    [
        (ClickStatus.COMPLETE, (1, 0), True),
        (ClickStatus.COMPLETE, (1, 1), True),  # a partial complete is a complete
        (ClickStatus.SCREENOUT, (2, 2), True),  # client disqualification
        (ClickStatus.OVERQUOTA, (3, 2), True),  # client over-quota
        (ClickStatus.SCREENOUT, (2, 1), False),  # Dynata's own disqualification
        (ClickStatus.SCREENOUT, (2, 6), False),
        (ClickStatus.OVERQUOTA, (3, 1), False),
        (ClickStatus.DUPLICATE, (4, 1), False),
        (ClickStatus.QUALITY, (5, 2), False),
        (ClickStatus.ERROR, (0, 0), False),
    ],
)
def test_only_completes_and_the_clients_own_screenouts_exclude_rex_3_1(
    status: ClickStatus, ending: tuple[int, int], excludes: bool
) -> None:
    assert click(status=status, ending=ending).excludes(T0 + timedelta(days=1)) is excludes


def test_an_abandoned_click_excludes_and_one_still_running_does_not() -> None:
    running = click(loi_minutes=10)
    assert not running.excludes(T0 + timedelta(minutes=59))
    assert running.excludes(T0 + timedelta(minutes=60))
    left = dataclasses.replace(running, status=ClickStatus.LEFT, left_at=T0)
    assert left.excludes(T0)


def test_a_click_status_is_named_for_the_outcome() -> None:
    assert {ClickStatus.of(outcome) for outcome in Outcome} == {
        s for s in ClickStatus if not s.is_open
    }


def test_click_ids_are_32_hex_digits_and_differ() -> None:
    ids = {new_click_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 32 and i.isalnum() and int(i, 16) >= 0 for i in ids)


def test_participation_enters_every_project_and_excludes_by_ending() -> None:
    now = T0 + timedelta(minutes=30)
    history = [
        click(project_id=1, category_ids=(10,), status=ClickStatus.COMPLETE, ending=(1, 0)),
        click(project_id=2, category_ids=(20,), status=ClickStatus.SCREENOUT, ending=(2, 1)),
        click(project_id=3, category_ids=(30,), status=ClickStatus.OVERQUOTA, ending=(3, 2)),
        click(project_id=4, category_ids=(40,)),  # still running at ``now``
        click(project_id=None, category_ids=(50, 51), status=ClickStatus.SCREENOUT, ending=(2, 2)),
    ]
    assert participation(history, now) == Participation(
        entered_projects=frozenset({1, 2, 3, 4}),
        excluding_projects=frozenset({1, 3}),
        excluding_categories=frozenset({10, 30, 50, 51}),
    )


def test_participation_counts_a_click_abandoned_by_the_clock() -> None:
    running = click(project_id=4, category_ids=(40,), loi_minutes=30)
    before = participation([running], running.abandon_at - timedelta(seconds=1))
    after = participation([running], running.abandon_at)
    assert before.excluding_projects == frozenset()
    assert after.excluding_projects == frozenset({4})
    assert after.excluding_categories == frozenset({40})


def test_no_clicks_is_no_participation() -> None:
    assert participation([], T0) == Participation()
