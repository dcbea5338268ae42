"""Dynata's signing algorithm (REX §1): API requests, entry and return URLs, callbacks.

Every signature is the same three-step HMAC-SHA256 chain over a *signing string*, each step's
lowercase hex digest keying or feeding the next:

    first     = HMAC(key=expiration, msg=signing_string)
    second    = HMAC(key=access_key, msg=first)
    signature = HMAC(key=secret_key, msg=second)

For a request (§1.2) the signing string is the SHA-256 hex of the raw body; for a URL (§1.4) it is
the SHA-256 hex of the canonical query: the parameters plus ``access_key`` and ``expiration``,
sorted, ``urlencode``d the way Dynata's Python SDK does (so a space is ``+``).

Verification checks authenticity before expiry, so that a caller can tell a genuine link that
arrived late (``SignatureExpired``, which carries the verified parameters) from a forged one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

ACCESS_KEY_HEADER = "dynata-access-key"
EXPIRATION_HEADER = "dynata-expiration"
SIGNATURE_HEADER = "dynata-signature"
SIGNING_STRING_HEADER = "dynata-signing-string"
URL_SIGNATURE_PARAMETERS = ("access_key", "expiration", "signature")


@dataclass(frozen=True, slots=True)
class KeyPair:
    access_key: str
    secret_key: str = field(repr=False)


class SignatureError(ValueError):
    """A request or URL that must be refused; the message says why, without secrets."""


class SignatureMissing(SignatureError):
    pass


class SignatureInvalid(SignatureError):
    pass


class UnknownAccessKey(SignatureInvalid):
    pass


class SignatureExpired(SignatureError):
    """Authentic, but at or past its expiration."""

    def __init__(self, expired_at: datetime, parameters: Mapping[str, str] | None = None):
        super().__init__(f"signature expired at {format_expiration(expired_at)}")
        self.expired_at = expired_at
        self.parameters = dict(parameters or {})


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def signature(keys: KeyPair, expiration: str, signing_string: str) -> str:
    """The §1.2 chain; ``expiration`` is used byte for byte as sent, never re-formatted."""
    first = _hmac(expiration, signing_string)
    second = _hmac(keys.access_key, first)
    return _hmac(keys.secret_key, second)


def _same(expected: str, sent: str) -> bool:
    """Constant-time comparison that refuses, rather than raises on, non-ASCII input."""
    return hmac.compare_digest(expected.encode(), sent.encode(errors="replace"))


def _hmac(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def format_expiration(at: datetime) -> str:
    """The form Dynata's SDK sends: ``2021-03-30T14:17:29.208Z`` (UTC, milliseconds)."""
    moment = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_expiration(text: str) -> datetime:
    """Any RFC 3339 timestamp: fractional seconds optional, ``Z`` or a numeric offset."""
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as error:
        raise SignatureInvalid(f"expiration {text!r} is not an RFC 3339 timestamp") from error
    if moment.tzinfo is None or "T" not in text.upper():
        raise SignatureInvalid(f"expiration {text!r} is not an RFC 3339 timestamp")
    return moment


Secrets = Mapping[str, str]
"""Secret keys by access key: the key pairs a verifier accepts."""


def sign_request(keys: KeyPair, body: bytes, expires_at: datetime) -> dict[str, str]:
    """The ``dynata-*`` headers for a request (or callback) whose raw body is ``body``."""
    expiration = format_expiration(expires_at)
    signing_string = sha256_hex(body)
    return {
        EXPIRATION_HEADER: expiration,
        ACCESS_KEY_HEADER: keys.access_key,
        SIGNATURE_HEADER: signature(keys, expiration, signing_string),
        SIGNING_STRING_HEADER: signing_string,
    }


def verify_request(headers: Mapping[str, str], body: bytes, secrets: Secrets, now: datetime) -> str:
    """Check a signed request (§1.3) and return its access key.

    ``headers`` must look names up case-insensitively (as Starlette's and httpx's do). The body
    digest is recomputed from the bytes received; a ``dynata-signing-string`` header that
    disagrees with it is refused.
    """
    values = {name: headers.get(name) for name in (EXPIRATION_HEADER, ACCESS_KEY_HEADER)}
    sent = headers.get(SIGNATURE_HEADER)
    missing = [name for name, value in {**values, SIGNATURE_HEADER: sent}.items() if not value]
    if missing:
        raise SignatureMissing(f"missing {', '.join(missing)}")
    expiration, access_key = values[EXPIRATION_HEADER] or "", values[ACCESS_KEY_HEADER] or ""
    expires_at = parse_expiration(expiration)
    secret = secrets.get(access_key)
    if secret is None:
        raise UnknownAccessKey("unknown access key")
    signing_string = sha256_hex(body)
    claimed = headers.get(SIGNING_STRING_HEADER)
    if claimed is not None and not _same(signing_string, claimed.lower()):
        raise SignatureInvalid("dynata-signing-string does not match the body")
    expected = signature(KeyPair(access_key, secret), expiration, signing_string)
    if not _same(expected, sent or ""):
        raise SignatureInvalid("invalid signature")
    if now >= expires_at:  # §1.1: invalid once now >= expiration
        raise SignatureExpired(expires_at)
    return access_key


def canonical_query(parameters: Mapping[str, str], space: str = "+") -> str:
    """Sorted ``name=value`` pairs, encoded as Dynata's SDK does (``space="+"``) or per RFC 3986
    (``space="%20"``); the two differ only in how a space is written."""
    pairs = sorted(parameters.items())
    if space == "+":
        return urlencode(pairs)
    return urlencode(pairs, quote_via=quote, safe="")


def url_signature(keys: KeyPair, expiration: str, parameters: Mapping[str, str]) -> str:
    """The §1.4 signature of ``parameters`` (which must not include the signature itself)."""
    signed = {**parameters, "access_key": keys.access_key, "expiration": expiration}
    return signature(keys, expiration, sha256_hex(canonical_query(signed)))


def sign_url(
    url: str, keys: KeyPair, expires_at: datetime, extra: Mapping[str, str] | None = None
) -> str:
    """``url`` with ``extra`` parameters added and ``access_key``, ``expiration`` and
    ``signature`` appended. A parameter name may appear only once (REX §6.3)."""
    parts = urlsplit(url)
    existing = _unique_parameters(parts.query)
    added = dict(extra or {})
    repeated = sorted(set(existing) & set(added) | set(added) & set(URL_SIGNATURE_PARAMETERS))
    if repeated:
        raise ValueError(f"parameter names already in the URL: {', '.join(repeated)}")
    for name in URL_SIGNATURE_PARAMETERS:
        existing.pop(name, None)
    parameters = {**existing, **added}
    expiration = format_expiration(expires_at)
    signed = {
        **parameters,
        "access_key": keys.access_key,
        "expiration": expiration,
        "signature": url_signature(keys, expiration, parameters),
    }
    return urlunsplit(parts._replace(query=urlencode(list(signed.items()))))


@dataclass(frozen=True, slots=True)
class VerifiedUrl:
    parameters: dict[str, str]  # everything but access_key, expiration and signature
    access_key: str
    expires_at: datetime


def verify_url(
    url: str, secrets: Secrets, now: datetime, grace: timedelta = timedelta(0)
) -> VerifiedUrl:
    """Check a signed URL (§1.4) against the key pairs in ``secrets``.

    Either space encoding is accepted. An authentic URL past ``expiration + grace`` raises
    ``SignatureExpired`` with its parameters; anything else wrong raises ``SignatureInvalid``.
    """
    parameters = _unique_parameters(urlsplit(url).query)
    access_key = parameters.pop("access_key", "")
    expiration = parameters.pop("expiration", "")
    sent = parameters.pop("signature", "")
    if not (access_key and expiration and sent):
        raise SignatureMissing("the URL carries no complete access_key, expiration and signature")
    expires_at = parse_expiration(expiration)
    secret = secrets.get(access_key)
    if secret is None:
        raise UnknownAccessKey("unknown access key")
    keys = KeyPair(access_key, secret)
    signed = {**parameters, "access_key": access_key, "expiration": expiration}
    authentic = any(
        _same(signature(keys, expiration, sha256_hex(canonical_query(signed, space))), sent)
        for space in ("+", "%20")
    )
    if not authentic:
        raise SignatureInvalid("invalid signature")
    if now - grace >= expires_at:  # not expires_at + grace: year 9999 would overflow
        raise SignatureExpired(expires_at, parameters)
    return VerifiedUrl(parameters=parameters, access_key=access_key, expires_at=expires_at)


def _unique_parameters(query: str) -> dict[str, str]:
    pairs = parse_qsl(query, keep_blank_values=True)
    parameters = dict(pairs)
    if len(parameters) != len(pairs):
        names = sorted({name for name, _ in pairs if [n for n, _ in pairs].count(name) > 1})
        raise SignatureInvalid(f"repeated parameters: {', '.join(names)}")
    return parameters
