"""App settings as text: one parser per setting, shared by the CLI and the dashboard, and the
text each value is shown as, which reads back to the same value."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from surveyrouter.domain.apps import App, AppSettingInvalid, Currency, RedirectUrls
from surveyrouter.services.app_settings_text import (
    CLEARABLE,
    FLAGS,
    PARSERS,
    format_setting,
    parse_boolean,
    parse_setting,
)
from surveyrouter.services.apps import SETTINGS, app_document, with_settings

TOKEN = "t" * 16


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("revenue_share", "0.55", Decimal("0.55")),
        ("currency_factor", "1e3", Decimal(1000)),
        ("currency_bonus_percent", "10", 10),
        ("ranking_variants", "0", 0),
        ("screenout_reward", "", None),
        ("screenout_reward", "0.02", Decimal("0.02")),
        ("start_bonus_reward", "", None),
        ("allowed_countries", "us, ca,,", frozenset({"US", "CA"})),
        ("allowed_countries", "", frozenset()),
        ("default_country", "de", "DE"),
        ("leaderboard_rewards", "10, 5.5", (Decimal(10), Decimal("5.5"))),
        ("leaderboard_rewards", "", ()),
        ("colors", "#112233, #fff", ("#112233", "#fff")),
        ("callback_url", "", None),
        ("redirect_termination_url", "https://pub.example/x", "https://pub.example/x"),
        ("name", "Quiz Kingdom", "Quiz Kingdom"),
        ("currency_symbol", "{value} Points", "{value} Points"),
        ("verified", "no", False),
        ("leaderboard_enabled", "ON", True),
        ("currency_whole_units", "1", True),
    ],
)
def test_each_setting_reads_its_text(name: str, text: str, value: Any) -> None:
    assert parse_setting(name, text) == value


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("revenue_share", "lots", "'lots' is not a decimal number"),
        ("currency_factor", "Infinity", "'Infinity' is not a finite number"),
        ("currency_factor", "NaN", "'NaN' is not a finite number"),
        ("start_bonus_questions", "2.5", "'2.5' is not a whole number"),
        ("leaderboard_rewards", "10, many", "'many' is not a decimal number"),
        ("verified", "maybe", "'maybe' is not true or false"),
        ("verified", "", "'' is not true or false"),
        ("bogus", "1", "no such setting"),
    ],
)
def test_a_text_not_of_its_kind_is_refused_naming_the_setting(
    name: str, text: str, message: str
) -> None:
    with pytest.raises(AppSettingInvalid) as refused:
        parse_setting(name, text)
    assert refused.value.setting == name
    assert refused.value.message == message


def test_parsers_and_switches_only_name_settings_that_exist() -> None:
    assert set(PARSERS) <= set(SETTINGS)
    assert set(FLAGS) <= set(SETTINGS)
    assert set(CLEARABLE) <= set(PARSERS)
    assert not set(PARSERS) & set(FLAGS)
    for name in CLEARABLE:
        parse_setting(name, "")  # an empty text means something for each of them


def test_parse_boolean_takes_the_usual_spellings() -> None:
    assert [parse_boolean(t) for t in ("true", "Yes", "on", "1")] == [True] * 4
    assert [parse_boolean(t) for t in ("false", "NO", "off", "0")] == [False] * 4
    with pytest.raises(ValueError, match="not true or false"):
        parse_boolean("y")


@pytest.mark.parametrize(
    "app",
    [
        App(name="Defaults", api_token=TOKEN, secret=TOKEN, s2s_token=TOKEN),
        App(
            name="Everything set",
            api_token=TOKEN,
            secret=TOKEN,
            s2s_token=TOKEN,
            revenue_share=Decimal("0.55"),
            currency=Currency(Decimal(1000), 10, False, "https://pub.example/coin.png", True),
            default_country="CA",
            allowed_countries=frozenset({"CA", "US"}),
            client_overrides_allowed=True,
            callback_url="https://pub.example/cb?u=[%UID%]",
            redirects=RedirectUrls("https://a.example/1", None, "https://a.example/3", None),
            screenout_reward=Decimal("0.0200"),
            start_bonus_reward=Decimal(50),
            start_bonus_questions=3,
            leaderboard_enabled=True,
            leaderboard_rewards=(Decimal(10), Decimal("5.5")),
            colors=("#112233", "#fff"),
            verified=False,
            ranking_variants=4,
        ),
    ],
)
def test_every_value_is_shown_as_text_that_reads_back_to_it(app: App) -> None:
    document = app_document(app)
    texts = {name: format_setting(name, document[name]) for name in SETTINGS}
    read_back = {name: parse_setting(name, text) for name, text in texts.items()}

    blank = App(name="Blank", api_token="b" * 16, secret="b" * 16, s2s_token="b" * 16)
    assert dataclasses.replace(with_settings(blank, read_back), id=app.id) == app


def test_decimals_are_never_shown_in_exponent_form() -> None:
    assert format_setting("currency_factor", Decimal("1E+3")) == "1000"
    assert format_setting("leaderboard_rewards", (Decimal("1E+1"), Decimal("0.5"))) == "10, 0.5"
    assert format_setting("screenout_reward", None) == ""
    assert format_setting("allowed_countries", frozenset({"US", "CA"})) == "CA, US"
    assert format_setting("verified", True) == "true"
