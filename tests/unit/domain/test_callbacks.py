"""The publisher callback: macros in both schemes, percent-encoded, signed as sent (client API
§3.1–§3.2). httpx appears here only as the HTTP client whose rewriting the hash must survive."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveyrouter.domain.callbacks import (
    CallbackFacts,
    CallbackTemplateInvalid,
    build_callback_url,
    callback_hash,
    fill_macros,
    redacted_callback_url,
    unknown_macros,
    verify_callback,
)
from surveyrouter.domain.money import Reward, RewardKind, reconcile

# Client API §3.2, the documented test vector.
VECTOR_URL = "https://publisher.com/complete?uid=8cc877ee-af19-488d-b28d-216fb866b996&val=500"
VECTOR_SECRET = "JLOIAUNMHFli7ZJOQVEzm98rzqnm9"
VECTOR_HASH = "dbcd6bb8ca677344592842a52b4fca9bec36cd4b"

SECRET = "s3cr3t-app-secret-0123456789"
COMPLETE = Reward(RewardKind.COMPLETE, Decimal("1.20"), Decimal(120))
FACTS = CallbackFacts(
    user_id="user-42",
    transaction_id="t1001",
    reward=COMPLETE,
    app_id=7,
    app_token="app-token-0123456789",
    ip_address="203.0.113.9",
)


def as_httpx_sends(url: str) -> str:
    return str(httpx.URL(url))


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def test_the_hash_matches_the_documented_test_vector() -> None:
    assert callback_hash(VECTOR_URL, VECTOR_SECRET) == VECTOR_HASH


def test_the_documented_callback_is_built_and_verifies() -> None:
    facts = dataclasses.replace(
        FACTS,
        user_id="8cc877ee-af19-488d-b28d-216fb866b996",
        reward=Reward(RewardKind.COMPLETE, Decimal("0.50"), Decimal(500)),
    )
    template = "https://publisher.com/complete?uid=[%UID%]&val=[%VAL%]"
    url = build_callback_url(template, facts, VECTOR_SECRET)
    assert url == f"{VECTOR_URL}&hash={VECTOR_HASH}"
    assert verify_callback(url, VECTOR_SECRET)


def test_legacy_and_current_macros_name_the_same_facts() -> None:
    legacy = "https://p.example/cb?u=[%UID%]&v=[%VAL%]&r=[%RAW%]&ip=[%IP%]"
    current = "https://p.example/cb?u=[%USER:UID%]&v=[%VALUE:CURRENCY%]&r=[%VALUE:USD%]"
    current += "&ip=[%USER:IP_ADDRESS%]"
    shorthand = "https://p.example/cb?u=[%USER:UID%]&v=[%CURRENCY:VALUE%]&r=[%CURRENCY:USD%]"
    shorthand += "&ip=[%USER:IP_ADDRESS%]"
    expected = {"u": "user-42", "v": "120", "r": "1.20", "ip": "203.0.113.9"}
    for template in (legacy, current, shorthand):
        assert query(fill_macros(template, FACTS)) == expected
        assert unknown_macros(template) == ()


def test_every_fact_fills_its_macro() -> None:
    facts = dataclasses.replace(FACTS, reason="client_terminated", fraud_score="GOOD")
    template = (
        "https://p.example/cb?tx=[%TX%]&type=[%TYPE%]&app=[%APP%]&token=[%APP:TOKEN%]"
        "&reason=[%REASON%]&f=[%FSCORE%]&ref=[%REF%]"
    )
    assert query(fill_macros(template, facts)) == {
        "tx": "t1001",
        "type": "COMPLETE",
        "app": "7",
        "token": "app-token-0123456789",
        "reason": "client_terminated",
        "f": "GOOD",
        "ref": "",  # a fact that is not there fills its macro with nothing
    }


def test_a_reconciliation_carries_negative_amounts_and_the_reversed_transaction() -> None:
    facts = dataclasses.replace(
        FACTS, transaction_id="t1002", reward=reconcile(COMPLETE), reference="t1001"
    )
    template = "https://p.example/cb?tx=[%TX%]&ref=[%REF%]&type=[%TYPE%]&v=[%VAL%]&r=[%RAW%]"
    url = build_callback_url(template, facts, SECRET)
    assert url.startswith(
        "https://p.example/cb?tx=t1002&ref=t1001&type=RECONCILIATION&v=-120&r=-1.20&hash="
    )


def test_every_substituted_value_is_percent_encoded() -> None:
    facts = dataclasses.replace(FACTS, user_id="a b&c=d/é?#[%VAL%]")
    filled = fill_macros("https://p.example/cb?uid=[%UID%]&v=[%VAL%]", facts)
    assert filled == "https://p.example/cb?uid=a%20b%26c%3Dd%2F%C3%A9%3F%23%5B%25VAL%25%5D&v=120"
    assert query(filled)["uid"] == "a b&c=d/é?#[%VAL%]"


def test_an_unknown_macro_is_left_as_written_and_reported_once() -> None:
    template = "https://p.example/cb?o=[%OFFER_ID%]&u=[%UID%]&x=[%NOPE%]&o2=[%OFFER_ID%]&t=[%uid%]"
    assert unknown_macros(template) == ("[%OFFER_ID%]", "[%NOPE%]")
    assert fill_macros(template, FACTS) == (
        "https://p.example/cb?o=[%OFFER_ID%]&u=user-42&x=[%NOPE%]&o2=[%OFFER_ID%]&t=[%uid%]"
    )


def test_without_a_question_mark_the_hash_is_still_appended_with_an_ampersand() -> None:
    url = build_callback_url("https://p.example/cb/[%UID%]", FACTS, SECRET)
    base = "https://p.example/cb/user-42"
    assert url == f"{base}&hash={callback_hash(base, SECRET)}"
    assert verify_callback(url, SECRET)


def test_the_hash_covers_the_url_as_httpx_sends_it() -> None:
    template = "https://Publisher.EXAMPLE/call back/ü?uid=[%UID%]&note=héllo wörld&val=[%VAL%]"
    url = build_callback_url(template, FACTS, SECRET, normalize=as_httpx_sends)
    assert url.startswith(
        "https://publisher.example/call%20back/%C3%BC?uid=user-42&note=h%C3%A9llo%20w%C3%B6rld"
    )
    assert as_httpx_sends(url) == url  # what is sent is what was signed
    assert verify_callback(as_httpx_sends(url), SECRET)


def test_hashing_the_template_as_written_would_not_verify_once_httpx_rewrites_it() -> None:
    template = "https://Publisher.EXAMPLE/cb?uid=[%UID%]&note=héllo wörld"
    as_written = build_callback_url(template, FACTS, SECRET)
    assert verify_callback(as_written, SECRET)
    assert not verify_callback(as_httpx_sends(as_written), SECRET)


def test_a_client_that_would_rewrite_the_signed_url_again_is_refused() -> None:
    def unstable(url: str) -> str:
        return url + "/"

    with pytest.raises(CallbackTemplateInvalid, match="not sent as it is signed"):
        build_callback_url("https://p.example/cb?u=[%UID%]", FACTS, SECRET, normalize=unstable)


@pytest.mark.parametrize(
    "template",
    [
        "https://p.example/cb?u=[%UID%]#done",  # a fragment is never sent
        "https://p.example",  # the hash would join the host
        "/cb?u=[%UID%]",
        "ftp://p.example/cb",
    ],
)
def test_a_template_whose_hash_could_not_arrive_is_refused(template: str) -> None:
    with pytest.raises(CallbackTemplateInvalid):
        build_callback_url(template, FACTS, SECRET)


@pytest.mark.parametrize(
    "tampered",
    [
        VECTOR_URL.replace("val=500", "val=5000") + f"&hash={VECTOR_HASH}",
        VECTOR_URL + f"&hash={VECTOR_HASH.upper()}",
        VECTOR_URL + "&hash=",
        VECTOR_URL,
        VECTOR_URL + "&hash=é",
    ],
)
def test_a_tampered_or_unsigned_callback_does_not_verify(tampered: str) -> None:
    assert not verify_callback(tampered, VECTOR_SECRET)


def test_a_callback_signed_with_another_secret_does_not_verify() -> None:
    url = build_callback_url("https://p.example/cb?u=[%UID%]", FACTS, SECRET)
    assert not verify_callback(url, SECRET + "x")


TEMPLATES = [
    "https://p.example/cb?uid=[%UID%]&val=[%VAL%]&raw=[%RAW%]&tx=[%TX%]",
    "https://P.Example/cb?u=[%USER:UID%]&v=[%VALUE:CURRENCY%]&note=hé llo&ip=[%IP%]",
    "https://p.example/ünï cödé/[%USER:UID%]",
    "http://p.example:8080/cb?a=1&u=[%UID%]&x=[%UNKNOWN%]",
]
NORMALIZERS: list[Callable[[str], str]] = [lambda url: url, as_httpx_sends]
amounts = st.decimals(min_value=-10_000, max_value=10_000, places=2)


@given(
    template=st.sampled_from(TEMPLATES),
    normalize=st.sampled_from(NORMALIZERS),
    secret=st.text(min_size=1),
    user_id=st.text(max_size=65),
    ip_address=st.none() | st.text(max_size=45),
    usd=amounts,
    value=amounts,
)
def test_any_built_callback_verifies_as_sent(
    template: str,
    normalize: Callable[[str], str],
    secret: str,
    user_id: str,
    ip_address: str | None,
    usd: Decimal,
    value: Decimal,
) -> None:
    facts = dataclasses.replace(
        FACTS,
        user_id=user_id,
        ip_address=ip_address,
        reward=Reward(RewardKind.COMPLETE, usd, value),
    )
    url = build_callback_url(template, facts, secret, normalize=normalize)
    assert normalize(url) == url
    assert verify_callback(url, secret)
    assert url.rpartition("&hash=")[0] == normalize(fill_macros(template, facts))


def test_extra_parameters_are_appended_before_the_hash_and_it_still_verifies() -> None:
    template = "https://Publisher.example/cb?uid=[%UID%]&val=[%VAL%]"
    tags = {"campaign": "spring sale", "placement": "home"}
    url = build_callback_url(
        template, FACTS, SECRET, normalize=as_httpx_sends, extra_parameters=tags
    )
    assert verify_callback(url, SECRET)
    assert url.index("placement=home") < url.index("&hash=")
    assert query(url) == {
        "uid": "user-42",
        "val": "120",
        "campaign": "spring sale",
        "placement": "home",
        "hash": callback_hash(url.rpartition("&hash=")[0], SECRET),
    }


def test_extra_parameters_never_repeat_the_templates_own_or_the_hash() -> None:
    template = "https://publisher.example/cb?uid=[%UID%]&val=[%VAL%]"
    tags = {"val": "1000000", "hash": "0", "uid": "someone-else", "source": "tags"}
    url = build_callback_url(template, FACTS, SECRET, extra_parameters=tags)
    assert verify_callback(url, SECRET)
    assert url.count("val=") == 1
    assert url.count("uid=") == 1
    assert url.count("hash=") == 1
    assert query(url)["source"] == "tags"


def test_extra_parameters_start_the_query_when_the_template_has_none() -> None:
    url = build_callback_url(
        "https://publisher.example/cb", FACTS, SECRET, extra_parameters={"k": "v"}
    )
    assert url.startswith("https://publisher.example/cb?k=v&hash=")
    assert verify_callback(url, SECRET)


def test_extra_parameters_never_repeat_the_templates_own_in_another_case() -> None:
    template = "https://publisher.example/cb?UID=[%UID%]&VAL=[%VAL%]"
    url = build_callback_url(
        template, FACTS, SECRET, extra_parameters={"val": "999999", "uid": "victim"}
    )
    assert verify_callback(url, SECRET)
    assert "val=999999" not in url.lower()
    assert "uid=victim" not in url.lower()


# ---------------------------------------------------------------- erasure


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        (
            "https://Pub.example/cb?uid=anna&ip=203.0.113.9&campaign=spring&hash=ab",
            "https://pub.example/[erased]",
        ),
        ("http://pub.example:8080/users/anna/credit?val=5#top", "http://pub.example:8080/[erased]"),
        ("https://ops:secret@pub.example/cb?uid=anna", "https://pub.example/[erased]"),
        ("http://[2001:db8::1]:9000/cb/anna", "http://[2001:db8::1]:9000/[erased]"),
        ("http://pub.example:99999/anna", "http://pub.example/[erased]"),
    ],
)
def test_an_erased_users_callback_url_keeps_only_the_publishers_origin(
    sent: str, kept: str
) -> None:
    assert redacted_callback_url(sent) == kept


def test_a_callback_url_built_for_a_user_names_them_nowhere_once_redacted() -> None:
    facts = dataclasses.replace(FACTS, user_id="anna-1990", ip_address="203.0.113.9")
    template = "https://publisher.example/u/[%UID%]/cb?uid=[%UID%]&ip=[%IP%]"
    url = build_callback_url(template, facts, SECRET, extra_parameters={"who": "anna-1990"})

    redacted = redacted_callback_url(url)

    assert "anna" not in redacted
    assert "203.0.113.9" not in redacted
    assert redacted == "https://publisher.example/[erased]"
