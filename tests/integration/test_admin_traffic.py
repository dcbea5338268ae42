"""``/admin/traffic`` over real HTTP on SQLite and PostgreSQL: the funnel, the money and the
per-day, per-network and per-app numbers of data written through the real stores; the filters
change them; what lies outside the period is not counted; a bad filter is a 400 page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import httpx
import pytest

from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.domain.apps import App
from surveyrouter.domain.clicks import Click, ClickStatus, LeaveReason, OutcomeSource, new_click_id
from surveyrouter.domain.money import Reward, RewardKind
from surveyrouter.domain.users import User
from surveyrouter.services.apps import create_app
from surveyrouter.services.rewards import (
    record_reward,
    reverse_complete,
    start_bonus_transaction_id,
)
from surveyrouter.store.clicks import add_click, end_click, leave_click
from surveyrouter.store.db import transaction
from surveyrouter.store.impressions import count_impressions
from surveyrouter.store.users import user_on_sight
from tests.integration.admin_session import dashboard
from tests.integration.test_server import HTTP_TIMEOUT

ENDINGS = {
    ClickStatus.COMPLETE: (1, 0),
    ClickStatus.SCREENOUT: (2, 2),
    ClickStatus.OVERQUOTA: (3, 1),
    ClickStatus.DUPLICATE: (4, 1),
    ClickStatus.QUALITY: (5, 2),
    ClickStatus.ERROR: (0, 0),
}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


@dataclass
class Traffic:
    """What the test wrote. The period is ``start``..``today``; most of it happens on ``day``."""

    quiz: App
    other: App
    today: date
    start: date
    day: date

    @property
    def period(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.today.isoformat()}


class Writer:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.opportunity = 9000

    def user(self, app: App, uid: str) -> User:
        assert app.id is not None
        with transaction(self.runtime.sessions) as session:
            return user_on_sight(session, app.id, uid, utc_now())[0]

    def click(
        self,
        user: User,
        created_at: datetime,
        *,
        network_id: str = "sandbox",
        cpi: str = "1.23",
        ending: ClickStatus | None = None,
        ended_at: datetime | None = None,
    ) -> Click:
        self.opportunity += 1  # one opportunity each: leaving picks the latest click on one
        click = Click(
            id=new_click_id(),
            app_id=user.app_id,
            user_id=user.id,
            network_id=network_id,
            opportunity_id=self.opportunity,
            exchange_cpi=Decimal(cpi),
            loi_minutes=10,
            created_at=created_at,
        )
        with transaction(self.runtime.sessions) as session:
            add_click(session, click)
        if ending is not None:
            when = ended_at or created_at + timedelta(minutes=15)
            with transaction(self.runtime.sessions) as session:
                assert end_click(
                    session, click.id, ending, *ENDINGS[ending], OutcomeSource.RETURN, when
                )
        return click

    def pay(
        self, app: App, user: User, reward: Reward, transaction_id: str, when: datetime
    ) -> None:
        with transaction(self.runtime.sessions) as session:
            assert record_reward(session, app, user, reward, transaction_id, when).recorded

    def impressions(self, app: App, network_id: str, count: int, when: datetime) -> None:
        assert app.id is not None
        with transaction(self.runtime.sessions) as session:
            count_impressions(session, app.id, {network_id: count}, when)


def complete(usd: str, value: str) -> Reward:
    return Reward(RewardKind.COMPLETE, Decimal(usd), Decimal(value))


@pytest.fixture
def traffic(runtime: Runtime) -> Traffic:
    """Four days up to today; ``day`` (two days ago) has most of it."""
    today = utc_now().date()
    start, day = today - timedelta(days=3), today - timedelta(days=2)
    write = Writer(runtime)
    quiz = create_app(runtime.sessions, utc_now, {"name": "Quiz <Points>"})
    other = create_app(
        runtime.sessions,
        utc_now,
        {
            "name": "Other",
            "currency_factor": Decimal(1),
            "currency_whole_units": False,
            "currency_symbol": "${value}",
        },
    )
    alice, bob = write.user(quiz, "alice"), write.user(other, "bob")

    write.impressions(quiz, "sandbox", 100, at(day, 10, 5))
    write.impressions(quiz, "rex", 40, at(day, 11))
    write.impressions(other, "sandbox", 60, at(start, 23, 30))
    write.impressions(quiz, "sandbox", 1000, at(start - timedelta(days=2), 12))  # before it

    first = write.click(alice, at(day, 12), ending=ClickStatus.COMPLETE, ended_at=at(day, 12, 20))
    write.pay(quiz, alice, complete("0.86", "860"), first.id, at(day, 12, 20))
    taken_back = write.click(
        alice, at(day, 12), ending=ClickStatus.COMPLETE, ended_at=at(day, 12, 30)
    )
    write.pay(quiz, alice, complete("0.86", "860"), taken_back.id, at(day, 12, 30))
    reverse_complete(
        runtime.sessions, taken_back.id, "client rejected", lambda: at(day + timedelta(days=1), 9)
    )
    screened = write.click(alice, at(day, 12), ending=ClickStatus.SCREENOUT)
    screenout = Reward(RewardKind.SCREENOUT, Decimal("0.02"), Decimal(20))
    write.pay(quiz, alice, screenout, screened.id, at(day, 12, 15))
    for status in (
        ClickStatus.OVERQUOTA,
        ClickStatus.DUPLICATE,
        ClickStatus.QUALITY,
        ClickStatus.ERROR,
    ):
        write.click(alice, at(day, 12), ending=status)
    left = write.click(alice, at(day, 12))
    with transaction(runtime.sessions) as session:
        assert leave_click(
            session, alice.id, "sandbox", left.opportunity_id, LeaveReason.TOO_LONG, at(day, 12, 5)
        )
    write.click(alice, at(day, 12))  # no outcome: abandoned 60 minutes later
    write.click(alice, utc_now() - timedelta(minutes=1))  # still open
    on_rex = write.click(
        alice,
        at(day, 13),
        network_id="rex",
        cpi="2.00",
        ending=ClickStatus.COMPLETE,
        ended_at=at(day, 13, 10),
    )
    write.pay(quiz, alice, complete("1.40", "1400"), on_rex.id, at(day, 13, 10))
    bonus = Reward(RewardKind.START_BONUS, Decimal("0.00"), Decimal(50))
    write.pay(quiz, alice, bonus, start_bonus_transaction_id(alice.id), at(day, 14))

    # Made on the first day, completed (and paid) just after midnight, on ``day``.
    late = write.click(
        bob, at(start, 23, 50), cpi="0.50", ending=ClickStatus.COMPLETE, ended_at=at(day, 0, 5)
    )
    write.pay(other, bob, complete("0.35", "0.35"), late.id, at(day, 0, 5))

    # Before the period: a paid complete, and an open click a microsecond before it starts.
    old_day = start - timedelta(days=2)
    old = write.click(
        alice, at(old_day, 12), ending=ClickStatus.COMPLETE, ended_at=at(old_day, 12, 10)
    )
    write.pay(quiz, alice, complete("0.86", "860"), old.id, at(old_day, 12, 10))
    write.click(alice, at(start, 0) - timedelta(microseconds=1))
    return Traffic(quiz, other, today, start, day)


@pytest.fixture
def http(runtime: Runtime) -> Iterator[httpx.Client]:
    with dashboard(runtime) as (client, _csrf):
        yield client


def get(http: httpx.Client, **parameters: str | int) -> str:
    page = http.get("/admin/traffic", params=parameters)
    assert page.status_code == 200, page.text
    return page.text


def funnel(page: str) -> dict[str, int]:
    return {
        name: int(count.replace(",", ""))
        for name, count in re.findall(r'data-funnel="(\w+)">([\d,]+)<', page)
    }


def rates(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-rate="(\w+)">([^<]*) of ', page))


def money(page: str) -> dict[str, str]:
    found = dict(re.findall(r'data-(?:money|payout)="(\w+)">([^<]*?)(?: USD)?\s*<', page))
    return {name: value.strip() for name, value in found.items()}


def row(page: str, attribute: str, key: str) -> dict[str, str]:
    found = re.search(rf'<tr {attribute}="{re.escape(key)}">(.*?)</tr>', page, re.DOTALL)
    assert found, f"no row {attribute}={key!r}"
    return dict(re.findall(r'data-column="(\w+)">([^<]*)<', found.group(1)))


def test_the_funnel_and_the_money_of_the_period(http: httpx.Client, traffic: Traffic) -> None:
    page = get(http, **traffic.period)

    assert funnel(page) == {
        "impressions": 200,
        "clicks": 12,
        "completes": 4,
        "screenouts": 1,
        "overquotas": 1,
        "abandoned": 2,  # the one that left, the one without an outcome
        "others": 3,
        "open": 1,
    }
    assert rates(page) == {"clicks": "6.0 %", "completes": "33.3 %"}
    assert money(page) == {
        "revenue": "4.96",  # 1.23 + 1.23 + 2.00 + 0.50
        "reversed_revenue": "1.23",
        "net_revenue": "3.73",
        "publisher_payout": "2.63",  # 0.86 + 0.86 + 0.02 + 1.40 + 0.35 - 0.86
        "COMPLETE": "3.47",
        "SCREENOUT": "0.02",
        "START_BONUS": "0.00",
        "RECONCILIATION": "-0.86",
    }
    # Several apps' currencies do not add up: the users' payout waits for one app.
    assert 'data-money="user_payout"' not in page


def test_every_day_of_the_period_has_its_row(http: httpx.Client, traffic: Traffic) -> None:
    page = get(http, **traffic.period)

    days = re.findall(r'<tr data-day="([\d-]+)">', page)
    assert days == [(traffic.start + timedelta(days=n)).isoformat() for n in range(4)]
    assert row(page, "data-day", traffic.day.isoformat()) == {
        "impressions": "140",
        "clicks": "10",
        "completes": "3",
        "net_revenue": "4.96",  # the late complete counts on the day it ended
        "publisher_payout": "3.49",
    }
    assert row(page, "data-day", traffic.start.isoformat()) == {
        "impressions": "60",
        "clicks": "1",
        "completes": "1",
        "net_revenue": "0.00",
        "publisher_payout": "0.00",
    }
    after = (traffic.day + timedelta(days=1)).isoformat()
    assert row(page, "data-day", after)["net_revenue"] == "-1.23"
    assert row(page, "data-day", after)["publisher_payout"] == "-0.86"


def test_the_chart_draws_the_days_money(http: httpx.Client, traffic: Traffic) -> None:
    page = get(http, **traffic.period)

    found = re.search(r"<svg .*?</svg>", page, re.DOTALL)
    assert found
    svg = ET.fromstring(found.group(0))
    ns = {"svg": "http://www.w3.org/2000/svg"}
    title = svg.find("svg:title", ns)
    assert title is not None
    assert title.text == (
        f"Revenue and publishers' payout per day, {traffic.start} to {traffic.today} (USD)"
    )
    bars = svg.findall(".//svg:rect[@class='bar']", ns)
    assert len(bars) == 2 * 4
    values = {
        (bar.get("data-series"), bar.get("data-index")): bar.get("data-value") for bar in bars
    }
    assert Decimal(values["0", "1"] or "") == Decimal("4.96")
    assert Decimal(values["1", "1"] or "") == Decimal("3.49")
    assert Decimal(values["1", "2"] or "") == Decimal("-0.86")


def test_the_breakdowns_per_network_and_per_app(http: httpx.Client, traffic: Traffic) -> None:
    page = get(http, **traffic.period)

    assert row(page, "data-network", "sandbox") == {
        "impressions": "160",
        "clicks": "11",
        "click_rate": "6.9 %",
        "completes": "3",
        "completion_rate": "27.3 %",
        "net_revenue": "1.73",
        "publisher_payout": "1.23",
    }
    assert row(page, "data-network", "rex") == {
        "impressions": "40",
        "clicks": "1",
        "click_rate": "2.5 %",
        "completes": "1",
        "completion_rate": "100.0 %",
        "net_revenue": "2.00",
        "publisher_payout": "1.40",
    }
    # The start bonus pays for no click, so for no network.
    assert row(page, "data-network", "")["publisher_payout"] == "0.00"
    assert row(page, "data-app", str(traffic.quiz.id)) == {
        "impressions": "140",
        "clicks": "11",
        "click_rate": "7.9 %",
        "completes": "3",
        "completion_rate": "27.3 %",
        "net_revenue": "3.23",
        "publisher_payout": "2.28",
        "user_payout": "2,330 Points",  # 860 + 860 + 20 + 1400 + 50 - 860
    }
    other = row(page, "data-app", str(traffic.other.id))
    assert other["user_payout"] == "$0.35"
    assert other["completion_rate"] == "100.0 %"
    assert other["click_rate"] == "1.7 %"
    # The app's name is text, never markup.
    assert "Quiz &lt;Points&gt;" in page
    assert "<Points>" not in page


def test_choosing_an_app_narrows_everything_to_it(http: httpx.Client, traffic: Traffic) -> None:
    page = get(http, app=str(traffic.quiz.id), **traffic.period)

    assert funnel(page) == {
        "impressions": 140,
        "clicks": 11,
        "completes": 3,
        "screenouts": 1,
        "overquotas": 1,
        "abandoned": 2,
        "others": 3,
        "open": 1,
    }
    found = money(page)
    assert (found["revenue"], found["net_revenue"], found["publisher_payout"]) == (
        "4.46",
        "3.23",
        "2.28",
    )
    assert found["user_payout"] == "2,330 Points"
    assert row(page, "data-day", traffic.day.isoformat())["user_payout"] == "3,190 Points"
    assert f'<option value="{traffic.quiz.id}" selected>' in page
    assert 'data-app="' + str(traffic.other.id) not in page


def test_choosing_a_network_narrows_everything_to_it(http: httpx.Client, traffic: Traffic) -> None:
    page = get(http, network="rex", **traffic.period)

    assert funnel(page)["impressions"] == 40
    assert funnel(page)["clicks"] == 1
    assert funnel(page)["completes"] == 1
    found = money(page)
    assert (found["revenue"], found["reversed_revenue"], found["publisher_payout"]) == (
        "2.00",
        "0.00",
        "1.40",
    )
    assert found["START_BONUS"] == "0.00"
    assert '<option value="rex" selected>' in page

    both = get(http, app=str(traffic.quiz.id), network="sandbox", **traffic.period)
    assert funnel(both)["impressions"] == 100
    assert funnel(both)["clicks"] == 10
    assert funnel(both)["completes"] == 2
    found = money(both)
    assert (found["net_revenue"], found["publisher_payout"]) == ("1.23", "0.88")
    # Without a click, the start bonus is on no network: its value is not the app's here.
    assert found["user_payout"] == "880 Points"  # 860 + 860 + 20 - 860


def test_nothing_outside_the_period_is_counted(http: httpx.Client, traffic: Traffic) -> None:
    before = traffic.start - timedelta(days=2)
    page = get(http, start=before.isoformat(), end=before.isoformat())
    assert funnel(page)["impressions"] == 1000
    assert funnel(page)["clicks"] == 1
    assert money(page)["revenue"] == "1.23"
    assert money(page)["publisher_payout"] == "0.86"

    day_after = traffic.day + timedelta(days=1)
    later = get(http, start=day_after.isoformat(), end=traffic.today.isoformat())
    assert funnel(later)["clicks"] == 1  # only the open one, made a minute ago
    assert money(later)["revenue"] == "0.00"
    assert money(later)["reversed_revenue"] == "1.23"


def test_the_default_period_is_the_last_seven_days(http: httpx.Client, traffic: Traffic) -> None:
    page = get(http)
    first = (traffic.today - timedelta(days=6)).isoformat()
    assert f'name="start" value="{first}"' in page
    assert f'name="end" value="{traffic.today}"' in page
    assert len(re.findall(r'<tr data-day="', page)) == 7
    # The data in the period (the old complete is five days before today: inside it too).
    assert funnel(page)["clicks"] == 14
    only_end = get(http, end=traffic.day.isoformat())
    assert f'name="start" value="{traffic.day - timedelta(days=6)}"' in only_end


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ({"start": "2026-13-01"}, "The start date &#39;2026-13-01&#39; is not a date"),
        ({"end": "20261201"}, "The end date &#39;20261201&#39; is not a date"),
        ({"start": "yesterday"}, "is not a date written YYYY-MM-DD"),
        ({"start": "2026-12-02", "end": "2026-12-01"}, "is before the start"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "at most 366 days"),
        ({"end": "9999-12-31"}, "before the last day of the calendar"),
        ({"end": "0001-01-03"}, "reaches past the calendar"),
        ({"app": "abc"}, "There is no app"),
        ({"app": "999999"}, "There is no app"),
        ({"network": "nope<script>"}, "There is no network &#39;nope&lt;script&gt;&#39;"),
    ],
)
def test_a_bad_filter_is_a_400_page_with_the_problem(
    http: httpx.Client, parameters: dict[str, str], problem: str
) -> None:
    page = http.get("/admin/traffic", params=parameters)
    assert page.status_code == 400
    assert 'role="alert"' in page.text
    assert problem in page.text
    assert "<script>" not in page.text
    # The form is there to put it right, with what was sent.
    assert 'id="traffic-start"' in page.text
    assert "data-funnel" not in page.text


def test_the_page_needs_a_signed_in_operator(http: httpx.Client) -> None:
    with httpx.Client(timeout=HTTP_TIMEOUT, base_url=http.base_url) as stranger:
        page = stranger.get("/admin/traffic")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/admin/sign-in?next=")


def test_every_form_control_has_a_label(http: httpx.Client, traffic: Traffic) -> None:
    page = get(http, **traffic.period)
    form = re.search(r'<form class="inline-form" method="get".*?</form>', page, re.DOTALL)
    assert form
    controls = re.findall(r'<(?:select|input)\b[^>]*\bid="([\w-]+)"', form.group(0))
    assert sorted(controls) == ["traffic-app", "traffic-end", "traffic-network", "traffic-start"]
    for control in controls:
        assert f'<label for="{control}">' in form.group(0)
