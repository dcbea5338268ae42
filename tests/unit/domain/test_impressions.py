"""The signed impression of a v2 ``click_url``: self-contained, bound to its session and
tags, valid for a day."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from surveyrouter.domain.impressions import (
    MAX_TOKEN_LENGTH,
    ClickType,
    Impression,
    ImpressionInvalid,
    read_impression,
    sign_impression,
)

SECRET = b"link-secret-0123456789abcdef"
NOW = datetime(2026, 12, 8, 12, 0, 0, tzinfo=UTC)
SESSION = "8f14e45f-ceea-467f-a0e6-4d2b2b0c2f6e"
IMPRESSION = Impression(
    app_id=7,
    uid="user-1",
    type=ClickType.SURVEY,
    network_api_id=1,
    opportunity_id=13231,
    session_id=SESSION,
    issued_at=NOW,
    tags={"campaign": "spring sale"},
)


def reason(token: str, session: str = SESSION, now: datetime = NOW) -> str:
    with pytest.raises(ImpressionInvalid) as refused:
        read_impression(SECRET, token, session, now)
    return refused.value.reason


def test_a_signed_impression_reads_back_as_it_was_listed() -> None:
    token = sign_impression(SECRET, IMPRESSION)
    assert read_impression(SECRET, token, SESSION, NOW + timedelta(hours=23)) == IMPRESSION


def test_a_start_bonus_impression_names_no_survey() -> None:
    bonus = dataclasses.replace(
        IMPRESSION, type=ClickType.START_BONUS, network_api_id=None, opportunity_id=None
    )
    assert read_impression(SECRET, sign_impression(SECRET, bonus), SESSION, NOW) == bonus
    with pytest.raises(ValueError, match="names its opportunity"):
        dataclasses.replace(IMPRESSION, opportunity_id=None)


def test_another_session_another_secret_or_a_changed_body_is_forged() -> None:
    token = sign_impression(SECRET, IMPRESSION)
    body, _, signature = token.partition(".")
    other = sign_impression(SECRET, dataclasses.replace(IMPRESSION, tags={"campaign": "x"}))
    assert reason(token, session="0" * 36) == "forged"
    assert reason(sign_impression(b"another-secret", IMPRESSION)) == "forged"
    assert reason(f"{other.partition('.')[0]}.{signature}") == "forged"
    assert reason(f"{body}.{signature[:-2]}xx") == "forged"


def test_an_impression_older_than_a_day_has_expired_and_one_from_the_future_is_forged() -> None:
    token = sign_impression(SECRET, IMPRESSION)
    assert reason(token, now=NOW + timedelta(hours=24, seconds=1)) == "expired"
    assert reason(token, now=NOW - timedelta(minutes=10)) == "forged"


@pytest.mark.parametrize("token", ["", "garbage", "no.dots.here!", "é.é"])
def test_what_is_not_one_of_our_tokens_is_malformed(token: str) -> None:
    assert reason(token) == "malformed"


@pytest.mark.parametrize("session", ["", "not a session!", "x" * 65])
def test_a_session_no_listing_could_make_is_malformed(session: str) -> None:
    assert reason(sign_impression(SECRET, IMPRESSION), session=session) == "malformed"


def test_the_largest_tags_the_rules_allow_still_make_a_token_we_read() -> None:
    """Ten tags at the limits, their values four-byte characters, and the longest uid: the
    click URL must still be accepted."""
    tags = {f"{number}{'k' * 49}": "\U0001f600" * 50 for number in range(10)}
    largest = dataclasses.replace(IMPRESSION, uid="u" * 65, tags=tags)
    token = sign_impression(SECRET, largest)
    assert len(token) <= 4500
    assert len(token) <= MAX_TOKEN_LENGTH
    assert read_impression(SECRET, token, SESSION, NOW) == largest
