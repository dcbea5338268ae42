"""An app's settings are checked when it is made, naming the setting that is wrong."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from surveyrouter.domain.apps import App, AppSettingInvalid, Currency, RedirectUrls

TOKENS = {"api_token": "a" * 36, "secret": "s" * 32, "s2s_token": "t" * 32}


def app(**changes: Any) -> App:
    return App(**{"name": "Quiz Kingdom", **TOKENS, **changes})


def test_defaults_are_a_us_app_keeping_seventy_percent_for_the_publisher() -> None:
    made = app()
    assert made.revenue_share == Decimal("0.7")
    assert made.default_country == "US"
    assert made.serves_country("BR")  # no allowed list: every country
    assert made.verified
    assert not made.pays_screenouts
    assert not made.has_start_bonus


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"name": " "}, "name"),
        ({"api_token": "short"}, "api_token"),
        ({"secret": "with spaces in it!!"}, "secret"),
        ({"revenue_share": Decimal(0)}, "revenue_share"),
        ({"revenue_share": Decimal("1.01")}, "revenue_share"),
        ({"revenue_share": 0.7}, "revenue_share"),  # a float is not money
        ({"default_country": "usa"}, "default_country"),
        ({"allowed_countries": frozenset({"DE"})}, "default_country"),
        ({"allowed_countries": frozenset({"us"})}, "allowed_countries"),
        ({"callback_url": "ftp://x.example/cb"}, "callback_url"),
        ({"callback_url": "/relative"}, "callback_url"),
        ({"redirects": RedirectUrls(complete="nope")}, "redirect_complete_url"),
        ({"screenout_reward": Decimal("-0.01")}, "screenout_reward"),
        ({"screenout_reward": Decimal("0.00001")}, "screenout_reward"),
        ({"start_bonus_questions": -1}, "start_bonus_questions"),
        ({"colors": ("red",)}, "colors"),
        ({"ranking_variants": True}, "ranking_variants"),
        ({"currency": Currency(factor=Decimal(0))}, "currency_factor"),
        ({"currency": Currency(bonus_percent=-5)}, "currency_bonus_percent"),
        ({"currency": Currency(symbol="coin", symbol_is_image=True)}, "currency_symbol"),
        # What the store's NUMERIC(12, 4) and PostgreSQL's text cannot hold.
        ({"screenout_reward": Decimal("100000000")}, "screenout_reward"),
        ({"currency": Currency(factor=Decimal("1e9"))}, "currency_factor"),
        ({"name": "Quiz\x00"}, "name"),
        ({"callback_url": "https://x.example/cb\x00"}, "callback_url"),
    ],
)
def test_a_broken_setting_is_refused_by_name(changes: dict[str, Any], setting: str) -> None:
    with pytest.raises(AppSettingInvalid) as refused:
        app(**changes)
    assert refused.value.setting == setting


def test_a_change_is_checked_like_a_new_app() -> None:
    with pytest.raises(AppSettingInvalid, match="revenue_share"):
        dataclasses.replace(app(), revenue_share=Decimal(2))


def test_countries_outside_the_allowed_list_are_not_served() -> None:
    made = app(default_country="DE", allowed_countries=frozenset({"DE", "AT"}))
    assert made.serves_country("AT")
    assert not made.serves_country("US")


def test_a_screenout_reward_of_zero_pays_nothing() -> None:
    assert not app(screenout_reward=Decimal(0)).pays_screenouts
    assert app(screenout_reward=Decimal("0.02")).pays_screenouts
