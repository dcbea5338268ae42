"""REX §1 signing: every test vector of the spec, and how verification refuses what it must."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from surveyrouter.networks.rex.signing import (
    KeyPair,
    SignatureExpired,
    SignatureInvalid,
    SignatureMissing,
    UnknownAccessKey,
    canonical_query,
    format_expiration,
    parse_expiration,
    sha256_hex,
    sign_request,
    sign_url,
    signature,
    url_signature,
    verify_request,
    verify_url,
)

KEYS = KeyPair("access_key", "secret_key")
EPOCH = "1970-01-01T00:00:00.000Z"
SECRETS = {"access_key": "secret_key"}
LONG_AGO = datetime(1960, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("signing_string", "expected"),
    [
        ("", "f42747bca8a7d0f5ad6adb6eca7c1dd87f7af0b8f9612fba80950fea6e4eff35"),
        ("signing_string", "69e7fcb4a34d5141a368f938f44227a4f264032549ccdc62bd3e652c23e4a8c4"),
        (sha256_hex(b""), "6aa2d187875966c2c75fd2cd4db5bbb2de4bafab2494ced8154e3c3b0a906006"),
        (
            "9daa3661cc762e42995d59da6a3ca6377cdf651b5c41e37aeb178e1e1ad05071",
            "3ee81eea023e8437088c726396ea3433410cc64b7d43ce897dc30519ace114e9",
        ),
        (
            "498422696164df9a7249872130f104d233518e5cd93ac179c77310a702a06755",
            "32ffa0449f4a2186531e2786f258f913094a3fd688c9b1ce16fbef02dc88128f",
        ),
    ],
)
def test_request_signature_vectors(signing_string: str, expected: str) -> None:
    assert signature(KEYS, EPOCH, signing_string) == expected


def test_body_digests_cover_the_exact_bytes() -> None:
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert (
        sha256_hex(b'{\n    "key": "value"\n}')
        == "2715faa1cb1f76e0246b1f71095d163ba9a23afebfb51db8d52c2e0a50da6d1f"
    )
    assert (
        sha256_hex(b'{"limit": 10, "shards": {"count": 1, "current": 1}}')
        == "9daa3661cc762e42995d59da6a3ca6377cdf651b5c41e37aeb178e1e1ad05071"
    )
    assert (
        sha256_hex(b"[12871, 13174]")
        == "498422696164df9a7249872130f104d233518e5cd93ac179c77310a702a06755"
    )


def test_intermediate_steps_of_the_chain_for_an_empty_body() -> None:
    import hashlib
    import hmac

    first = hmac.new(EPOCH.encode(), sha256_hex(b"").encode(), hashlib.sha256).hexdigest()
    assert first == "2f06bc36d9d5cb8d00f2b5ef424df39827d958c3445d395215fbc4cd423535f5"
    second = hmac.new(b"access_key", first.encode(), hashlib.sha256).hexdigest()
    assert second == "eadc56f755341f5f43a8c1502c2af36e208a1ec5c2eea8cd29ec2f8c26436a82"


def test_url_helper_vector_hashes_the_canonical_query() -> None:
    canonical = canonical_query({"param_2": "value_2", "param_1": "value_1"})
    assert canonical == "param_1=value_1&param_2=value_2"
    assert sha256_hex(canonical) == (
        "13198b48d1ed3ae8d8e2d066fc76cd8b731cea99e3d6f30d9c05ef2e107b4a66"
    )


def test_url_signature_vector_with_two_parameters() -> None:
    parameters = {"param_1": "value_1", "param_2": "value_2"}
    assert canonical_query({**parameters, "access_key": "access_key", "expiration": EPOCH}) == (
        "access_key=access_key&expiration=1970-01-01T00%3A00%3A00.000Z"
        "&param_1=value_1&param_2=value_2"
    )
    assert url_signature(KEYS, EPOCH, parameters) == (
        "035c7ea7c2a7660df6bd8b18a8c6a2b83d869b44c0509e0cb425b460cebbaea4"
    )


def test_inbound_entry_link_vector() -> None:
    parameters = {
        "ctx": "7c26bf58-43db-4370-977d-d14fa4356930",
        "language": "es",
        "birth_date": "1989-09-16",
        "gender": "male",
        "postal_code": "00000",
        "respondent_id": "12345",
    }
    signed = {**parameters, "access_key": "access_key", "expiration": EPOCH}
    assert sha256_hex(canonical_query(signed)) == (
        "428857ab2600cf094673efaa35d35c3f1c589a20766d1610955808692c562536"
    )
    assert url_signature(KEYS, EPOCH, parameters) == (
        "3d063d93efde81823ca0e224c2458cc6053da0f0ce2ff5833644c8e5eddbc594"
    )


README_END_LINK = (
    "https://respondent.fake.rex.dynata.com/end?ctx=XXXX&transaction_id=123456&disposition=2"
    "&status=1&access_key=rex_access_key&expiration=2021-11-24T19:23:23.439Z"
    "&signature=d351ff102b3ae6252d47fd54b859ecaf38c2701f214c233848bbdf64c0bc7fe1"
)
REDIRECT_SECRETS = {"rex_access_key": "rex_secret_key"}
BEFORE_README_EXPIRY = datetime(2021, 11, 24, 19, 0, tzinfo=UTC)


def test_readme_end_link_verifies() -> None:
    verified = verify_url(README_END_LINK, REDIRECT_SECRETS, BEFORE_README_EXPIRY)
    assert verified.parameters == {
        "ctx": "XXXX",
        "transaction_id": "123456",
        "disposition": "2",
        "status": "1",
    }
    assert verified.access_key == "rex_access_key"


def test_tampered_end_link_is_invalid() -> None:
    tampered = README_END_LINK.replace("disposition=2&status=1", "disposition=1&status=0")
    with pytest.raises(SignatureInvalid):
        verify_url(tampered, REDIRECT_SECRETS, BEFORE_README_EXPIRY)


def test_authentic_but_late_link_is_expired_not_forged() -> None:
    with pytest.raises(SignatureExpired) as caught:
        verify_url(README_END_LINK, REDIRECT_SECRETS, datetime(2026, 1, 1, tzinfo=UTC))
    assert caught.value.parameters["disposition"] == "2"
    late = datetime(2021, 11, 24, 19, 30, tzinfo=UTC)
    assert verify_url(README_END_LINK, REDIRECT_SECRETS, late, grace=timedelta(hours=1))


def test_a_link_expires_at_its_expiration_instant() -> None:
    at = parse_expiration("2021-11-24T19:23:23.439Z")
    with pytest.raises(SignatureExpired):
        verify_url(README_END_LINK, REDIRECT_SECRETS, at)


def test_link_under_an_unknown_or_other_key_is_refused() -> None:
    with pytest.raises(UnknownAccessKey):
        verify_url(README_END_LINK, {"other": "rex_secret_key"}, BEFORE_README_EXPIRY)
    with pytest.raises(SignatureInvalid):
        verify_url(README_END_LINK, {"rex_access_key": "wrong"}, BEFORE_README_EXPIRY)


def test_link_without_signature_parameters_is_missing_them() -> None:
    with pytest.raises(SignatureMissing):
        verify_url("https://x.invalid/end?disposition=1", REDIRECT_SECRETS, BEFORE_README_EXPIRY)


def test_repeated_parameter_is_refused() -> None:
    with pytest.raises(SignatureInvalid, match="repeated"):
        verify_url(README_END_LINK + "&status=0", REDIRECT_SECRETS, BEFORE_README_EXPIRY)


def test_signed_url_round_trips_with_spaces_either_way() -> None:
    signed = sign_url(
        "https://respondent.invalid/start?ctx=abc&language=en",
        KEYS,
        datetime(2030, 1, 1, tzinfo=UTC),
        {"respondent_id": "r 1", "note": "a+b~c/d"},
    )
    query = urlsplit(signed).query
    assert "respondent_id=r+1" in query  # the SDK's encoding: a space is +
    assert [name for name, _ in parse_qsl(query)][:2] == ["ctx", "language"]
    now = datetime(2029, 1, 1, tzinfo=UTC)
    assert verify_url(signed, SECRETS, now).parameters == {
        "ctx": "abc",
        "language": "en",
        "respondent_id": "r 1",
        "note": "a+b~c/d",
    }
    assert verify_url(signed.replace("r+1", "r%201"), SECRETS, now)


def test_expiration_is_emitted_with_milliseconds_and_z() -> None:
    at = datetime(2021, 3, 30, 16, 17, 29, 208_999, tzinfo=UTC) + timedelta(hours=-2)
    assert format_expiration(at) == "2021-03-30T14:17:29.208Z"
    signed = sign_url("https://x.invalid/start", KEYS, at)
    assert dict(parse_qsl(urlsplit(signed).query))["expiration"] == "2021-03-30T14:17:29.208Z"


def test_sign_url_never_repeats_a_parameter_name() -> None:
    with pytest.raises(ValueError, match="language"):
        sign_url("https://x.invalid/start?language=en", KEYS, LONG_AGO, {"language": "de"})
    with pytest.raises(ValueError, match="signature"):
        sign_url("https://x.invalid/start", KEYS, LONG_AGO, {"signature": "x"})


@pytest.mark.parametrize(
    "text",
    [
        "2021-03-30T14:17:29.208Z",
        "2021-03-30T14:17:29Z",
        "2021-03-30T14:17:29+00:00",
        "2021-03-30T16:17:29.208+02:00",
        "2021-03-30t14:17:29.208z",
    ],
)
def test_any_rfc3339_expiration_is_accepted(text: str) -> None:
    moment = parse_expiration(text)
    assert moment.astimezone(UTC).replace(microsecond=0) == datetime(
        2021, 3, 30, 14, 17, 29, tzinfo=UTC
    )


@pytest.mark.parametrize("text", ["", "tomorrow", "2021-03-30", "2021-03-30T14:17:29"])
def test_malformed_expiration_is_invalid(text: str) -> None:
    with pytest.raises(SignatureInvalid):
        parse_expiration(text)


class Headers(dict[str, str]):
    """Case-insensitive lookup, as HTTP frameworks give headers."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return {k.lower(): v for k, v in self.items()}.get(key.lower(), default)


BODY = b'{"limit": 10, "shards": {"count": 1, "current": 1}}'
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def signed_headers(body: bytes = BODY, expires_at: datetime | None = None) -> Headers:
    return Headers(sign_request(KEYS, body, expires_at or NOW + timedelta(seconds=10)))


def test_signed_request_verifies_and_names_its_key() -> None:
    assert verify_request(signed_headers(), BODY, SECRETS, NOW) == "access_key"
    upper = Headers({k.upper(): v for k, v in signed_headers().items()})
    assert verify_request(upper, BODY, SECRETS, NOW) == "access_key"


def test_request_with_the_spec_expiration_matches_the_vector() -> None:
    headers = sign_request(KEYS, BODY, parse_expiration(EPOCH))
    assert headers["dynata-expiration"] == EPOCH
    assert headers["dynata-signature"] == (
        "3ee81eea023e8437088c726396ea3433410cc64b7d43ce897dc30519ace114e9"
    )
    assert verify_request(Headers(headers), BODY, SECRETS, LONG_AGO) == "access_key"


def test_changed_body_is_invalid() -> None:
    with pytest.raises(SignatureInvalid):
        verify_request(signed_headers(), BODY + b" ", SECRETS, NOW)


def test_lying_signing_string_header_is_invalid() -> None:
    headers = signed_headers()
    headers["dynata-signing-string"] = sha256_hex(b"something else")
    with pytest.raises(SignatureInvalid, match="signing-string"):
        verify_request(headers, BODY, SECRETS, NOW)


def test_request_without_a_signing_string_header_still_verifies() -> None:
    headers = signed_headers()
    del headers["dynata-signing-string"]
    assert verify_request(headers, BODY, SECRETS, NOW) == "access_key"


@pytest.mark.parametrize("header", ["dynata-expiration", "dynata-access-key", "dynata-signature"])
def test_request_missing_a_header_is_refused(header: str) -> None:
    headers = signed_headers()
    del headers[header]
    with pytest.raises(SignatureMissing, match=header):
        verify_request(headers, BODY, SECRETS, NOW)


def test_expired_request_is_refused_as_expired() -> None:
    headers = signed_headers(expires_at=NOW - timedelta(milliseconds=1))
    with pytest.raises(SignatureExpired):
        verify_request(headers, BODY, SECRETS, NOW)


def test_request_under_an_unknown_key_is_refused() -> None:
    with pytest.raises(UnknownAccessKey):
        verify_request(signed_headers(), BODY, {"someone": "else"}, NOW)


def test_non_ascii_signatures_are_refused_not_crashing() -> None:
    headers = signed_headers()
    headers["dynata-signature"] = "é" * 64
    with pytest.raises(SignatureInvalid):
        verify_request(headers, BODY, SECRETS, NOW)
    headers = signed_headers()
    headers["dynata-signing-string"] = "ü"
    with pytest.raises(SignatureInvalid):
        verify_request(headers, BODY, SECRETS, NOW)
    forged = README_END_LINK.rsplit("signature=", 1)[0] + "signature=%C3%A9"
    with pytest.raises(SignatureInvalid):
        verify_url(forged, REDIRECT_SECRETS, BEFORE_README_EXPIRY)
