"""REX §6 gateway links: entry links we sign, returns and callbacks we verify."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from surveyrouter.domain.outcome import Outcome
from surveyrouter.domain.profile import Gender
from surveyrouter.networks.rex.gateway import (
    STATUS_NAMES,
    Disposition,
    ReturnInvalid,
    entry_link,
    verify_callback,
    verify_return,
)
from surveyrouter.networks.rex.signing import (
    KeyPair,
    SignatureExpired,
    SignatureInvalid,
    sign_request,
    sign_url,
    verify_url,
)

ENTRY_KEYS = KeyPair("gateway-key", "gateway-secret")
REDIRECT_KEYS = KeyPair("redirect-key", "redirect-secret")
REDIRECT_SECRETS = {"redirect-key": "redirect-secret"}
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LIVE = "https://respondent.qa-rex.dynata.com/start?ctx=7321f626-0de5-4d45-b138-29864ce635b4&language=en"


def parameters(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def test_entry_link_carries_the_standard_profile_and_verifies_with_the_entry_keys() -> None:
    link = entry_link(
        LIVE,
        ENTRY_KEYS,
        NOW + timedelta(minutes=5),
        "a1b2c3",
        language="en",
        gender=Gender.FEMALE,
        birth_date=date(1990, 5, 1),
        postal_code="10110",
        passthrough={"sr_click": "c-42"},
    )
    names = [name for name, _ in parameters(link)]
    assert len(names) == len(set(names)), "a parameter name appears once"
    verified = verify_url(link, {"gateway-key": "gateway-secret"}, NOW)
    assert verified.parameters == {
        "ctx": "7321f626-0de5-4d45-b138-29864ce635b4",
        "language": "en",
        "respondent_id": "a1b2c3",
        "gender": "female",
        "birth_date": "1990-05-01",
        "postal_code": "10110",
        "sr_click": "c-42",
    }


def test_entry_link_leaves_out_what_is_unknown() -> None:
    link = entry_link(LIVE, ENTRY_KEYS, NOW + timedelta(minutes=5), "r")
    names = {name for name, _ in parameters(link)}
    assert names == {"ctx", "language", "respondent_id", "access_key", "expiration", "signature"}


def test_pass_through_names_may_not_shadow_rex_parameters() -> None:
    with pytest.raises(ValueError, match="respondent_id"):
        entry_link(LIVE, ENTRY_KEYS, NOW, "r", passthrough={"respondent_id": "x"})


def end_link(disposition: str, status: str, expires_at: datetime, **extra: str) -> str:
    return sign_url(
        "https://router.invalid/v1/rex/return",
        REDIRECT_KEYS,
        expires_at,
        {"sr_click": "c-42", "disposition": disposition, "status": status, **extra},
    )


def test_return_reads_disposition_status_and_pass_through() -> None:
    returned = verify_return(end_link("1", "0", NOW + timedelta(minutes=1)), REDIRECT_SECRETS, NOW)
    assert returned.disposition == Disposition(1, 0)
    assert returned.disposition.outcome is Outcome.COMPLETE
    assert returned.disposition.name == "Complete"
    assert returned.parameters == {"sr_click": "c-42"}
    assert not returned.late


def test_late_but_authentic_return_is_accepted_within_grace_and_flagged() -> None:
    link = end_link("2", "2", NOW - timedelta(minutes=1))
    returned = verify_return(link, REDIRECT_SECRETS, NOW, grace=timedelta(minutes=10))
    assert returned.late
    assert returned.disposition.outcome is Outcome.SCREENOUT
    with pytest.raises(SignatureExpired):
        verify_return(link, REDIRECT_SECRETS, NOW, grace=timedelta(seconds=30))


def test_a_return_that_expires_in_the_last_year_a_date_can_hold_is_read() -> None:
    link = end_link("1", "0", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
    returned = verify_return(link, REDIRECT_SECRETS, NOW, grace=timedelta(minutes=10))
    assert not returned.late


def test_forged_return_is_invalid_not_expired() -> None:
    link = end_link("2", "2", NOW - timedelta(minutes=1)).replace("disposition=2", "disposition=1")
    with pytest.raises(SignatureInvalid):
        verify_return(link, REDIRECT_SECRETS, NOW, grace=timedelta(days=1))


def test_return_signed_with_the_entry_keys_is_refused() -> None:
    link = sign_url("https://router.invalid/r", ENTRY_KEYS, NOW + timedelta(minutes=1),
                    {"disposition": "1", "status": "0"})  # fmt: skip
    with pytest.raises(SignatureInvalid):
        verify_return(link, REDIRECT_SECRETS, NOW)


@pytest.mark.parametrize(
    ("disposition", "status"),
    [("one", "0"), ("1", ""), ("-1", "0"), ("1", str(2**31)), (str(2**63), "0")],
)
def test_unreadable_disposition_is_refused(disposition: str, status: str) -> None:
    # Beyond 32 bits is no REX code either: the clicks table could not store it.
    link = end_link(disposition, status, NOW + timedelta(minutes=1))
    with pytest.raises(ReturnInvalid):
        verify_return(link, REDIRECT_SECRETS, NOW)


@pytest.mark.parametrize(
    ("pair", "outcome", "excludes"),
    [
        ((1, 0), Outcome.COMPLETE, True),
        ((1, 1), Outcome.COMPLETE, True),
        ((2, 1), Outcome.SCREENOUT, False),
        ((2, 2), Outcome.SCREENOUT, True),
        ((3, 2), Outcome.OVERQUOTA, True),
        ((3, 20), Outcome.OVERQUOTA, False),
        ((4, 1), Outcome.DUPLICATE, False),
        ((5, 10), Outcome.QUALITY, False),
        ((0, 9), Outcome.ERROR, False),
    ],
)
def test_dispositions_classify_and_say_what_excludes(
    pair: tuple[int, int], outcome: Outcome, excludes: bool
) -> None:
    disposition = Disposition(*pair)
    assert disposition.outcome is outcome
    assert disposition.excludes is excludes
    assert disposition.is_listed


def test_every_documented_status_is_named() -> None:
    assert len(STATUS_NAMES) == 40  # the whole table of REX §6.5
    assert Disposition(3, 22).name == "Quota Cell Click Balance"


def test_unlisted_status_is_tolerated_and_classified_by_disposition() -> None:
    returned = verify_return(end_link("3", "99", NOW + timedelta(minutes=1)), REDIRECT_SECRETS, NOW)
    assert returned.disposition.outcome is Outcome.OVERQUOTA
    assert not returned.disposition.is_listed
    assert "3.99" in returned.disposition.name
    assert Disposition(9, 1).outcome is Outcome.ERROR


class Headers(dict[str, str]):
    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return {k.lower(): v for k, v in self.items()}.get(key.lower(), default)


def test_callback_is_verified_with_the_redirect_keys_and_read() -> None:
    body = json.dumps(
        {
            "disposition": 1,
            "status": 0,
            "parameters": {"sr_click": "c-42"},
            "respondent_id": "respondent-123",
        }
    ).encode()
    headers = Headers(sign_request(REDIRECT_KEYS, body, NOW + timedelta(seconds=5)))
    callback = verify_callback(headers, body, REDIRECT_SECRETS, NOW)
    assert callback.respondent_id == "respondent-123"
    assert callback.disposition == Disposition(1, 0)
    assert callback.parameters == {"sr_click": "c-42"}
    with pytest.raises(SignatureInvalid):
        verify_callback(
            headers, body.replace(b'"status": 0', b'"status": 1'), REDIRECT_SECRETS, NOW
        )


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"disposition": 1, "status": 0}',
        b"\xff\xfe",  # not UTF-8
        b'{"respondent_id": "r", "disposition": ' + b"9" * 5000 + b', "status": 0}',
        b'{"respondent_id": "r", "parameters": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
    ],
)
def test_malformed_callback_body_is_refused(body: bytes) -> None:
    headers = Headers(sign_request(REDIRECT_KEYS, body, NOW + timedelta(seconds=5)))
    with pytest.raises(ReturnInvalid):
        verify_callback(headers, body, REDIRECT_SECRETS, NOW)
