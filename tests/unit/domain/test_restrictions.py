"""What keeps a user from surveys (client API §3.8), one reason at a time and together."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from surveyrouter.domain.apps import App
from surveyrouter.domain.client_context import ClientContext, CountrySource
from surveyrouter.domain.opportunity import Device
from surveyrouter.domain.restrictions import Restriction, restriction_for
from surveyrouter.domain.users import User

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
APP = App(name="Wall", api_token="t" * 16, secret="s" * 16, s2s_token="x" * 16, id=1)
USER = User(id=1, app_id=1, uid="u1", respondent_id="r" * 32, created_at=NOW)
US = ClientContext("US", "en", Device.MOBILE, CountrySource.IP)


def test_nothing_restricts_a_plain_user_of_a_verified_app() -> None:
    assert restriction_for(APP, USER, US, NOW) is None


def test_an_unverified_app_restricts_every_user() -> None:
    found = restriction_for(dataclasses.replace(APP, verified=False), USER, US, NOW)
    assert found == Restriction(not_verified=True)
    assert found.message == "app not verified"


def test_an_anonymous_ip_is_a_vpn() -> None:
    vpn = ClientContext("US", "en", Device.MOBILE, CountrySource.IP, anonymous_ip=True)
    found = restriction_for(APP, USER, vpn, NOW)
    assert found == Restriction(using_vpn=True)
    assert found.message == "vpn detected"


def test_a_ban_restricts_until_it_ends_with_its_reason() -> None:
    until = NOW + timedelta(days=2)
    banned = dataclasses.replace(USER, banned_until=until, ban_reason="speeding")
    assert restriction_for(APP, banned, US, NOW) == Restriction(
        banned_until=until, reason="speeding"
    )
    assert restriction_for(APP, banned, US, until) is None


def test_a_country_the_app_does_not_serve_is_named() -> None:
    german_only = dataclasses.replace(
        APP, allowed_countries=frozenset({"DE"}), default_country="DE"
    )
    assert restriction_for(german_only, USER, US, NOW) == Restriction(unsupported_country="US")


def test_reasons_combine_and_the_message_gives_the_first_as_sdks_do() -> None:
    vpn = ClientContext("FR", "fr", Device.MOBILE, CountrySource.IP, anonymous_ip=True)
    app = dataclasses.replace(APP, verified=False, allowed_countries=frozenset({"US"}))
    found = restriction_for(app, USER, vpn, NOW)
    assert found == Restriction(not_verified=True, using_vpn=True, unsupported_country="FR")
    assert found.message == "app not verified"
