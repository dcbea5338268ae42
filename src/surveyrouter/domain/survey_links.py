"""The survey links Get Actions hands out (``.../surveys/{s}/open?...&hash=``): signed, so a
user cannot open a survey for another user or app, and valid for a day."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote_plus

LINK_VALIDITY = timedelta(hours=24)
# Clocks of several API processes disagree a little; a link from "the future" beyond this
# was not made by us.
CLOCK_SKEW = timedelta(minutes=5)


class SurveyLinkInvalid(ValueError):
    """A survey link that cannot be opened; ``reason`` says why, for the termination URL."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SurveyLink:
    """What a survey link stands for: this app's user opening this network's survey, as
    offered at ``issued_at`` (whole seconds: the link carries a Unix time)."""

    app_id: int
    uid: str
    network_id: int
    survey_id: int
    issued_at: datetime

    def __post_init__(self) -> None:
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must be timezone-aware")
        object.__setattr__(self, "issued_at", self.issued_at.replace(microsecond=0))

    @property
    def timestamp(self) -> int:
        return int(self.issued_at.timestamp())


def link_hash(secret: bytes, link: SurveyLink) -> str:
    """HMAC-SHA256 over app, user, network, survey and issue time, in hex."""
    leading = _leading_mac(secret, link.app_id, link.uid)
    return _finished(leading, link.network_id, link.survey_id, link.timestamp)


# A separator no field can contain (uids are printable ASCII), so fields cannot shift.
_SEPARATOR = "\x1f"


def _leading_mac(secret: bytes, app_id: int, uid: str) -> hmac.HMAC:
    """``link_hash``'s MAC with the fields every link of one user shares already fed in."""
    return hmac.new(secret, f"{app_id}{_SEPARATOR}{uid}{_SEPARATOR}".encode(), hashlib.sha256)


def _finished(leading: hmac.HMAC, network_id: int, survey_id: int, timestamp: int) -> str:
    mac = leading.copy()
    mac.update(_SEPARATOR.join(str(value) for value in (network_id, survey_id, timestamp)).encode())
    return mac.hexdigest()


def link_query(secret: bytes, link: SurveyLink) -> dict[str, str]:
    """The signed query parameters that identify the click (the display parameters BitLabs'
    links also carry — rating, cr, loi, cpi — are the caller's to add; they are not trusted)."""
    return {
        "app": str(link.app_id),
        "uid": link.uid,
        "ts": str(link.timestamp),
        "hash": link_hash(secret, link),
    }


class ListingLinks:
    """The signed link queries of one listing: one app's user, issued at one moment, for many
    surveys. What all of them share (the quoted uid, the time, the MAC over the leading
    fields) is worked out once; each query is ``link_query`` and then the display parameters
    as ``urlencode`` writes them."""

    def __init__(self, secret: bytes, app_id: int, uid: str, issued_at: datetime) -> None:
        timestamp = SurveyLink(app_id, uid, 0, 0, issued_at).timestamp
        self._prefix = f"app={app_id}&uid={quote_plus(uid)}&ts={timestamp}&hash="
        self._leading = _leading_mac(secret, app_id, uid)
        self._timestamp = timestamp

    def query(self, network_id: int, survey_id: int, shown: Mapping[str, str]) -> str:
        """The link query for this survey; ``shown`` (rating, cr, loi, cpi: not trusted when
        read back) must not repeat the signed names."""
        signature = _finished(self._leading, network_id, survey_id, self._timestamp)
        shown_part = "".join(f"&{name}={_quoted(value)}" for name, value in shown.items())
        return f"{self._prefix}{signature}{shown_part}"


def _decimal(text: str) -> int:
    """A number as we write one: ASCII digits only. ``int`` also takes ``+1``, `` 1`` and
    other scripts' digits, which the signature (over the number) would not tell apart."""
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"not a decimal number: {text!r}")
    return int(text)


# What quote_plus leaves as it is: a value made only of these needs no quoting.
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~-]*")


def _quoted(value: str) -> str:
    return value if _UNQUOTED.fullmatch(value) else quote_plus(value)


def read_link(
    secret: bytes,
    network_id: int,
    survey_id: int,
    query: dict[str, str],
    now: datetime,
    *,
    validity: timedelta = LINK_VALIDITY,
) -> SurveyLink:
    """The link these path and query values make, if we signed it and it is still valid.

    Raises ``SurveyLinkInvalid`` with reason ``invalid_link`` (missing or malformed parts, a
    hash that does not match: tampered or forged) or ``expired_link``.
    """
    try:
        app_id = _decimal(query["app"])
        uid = query["uid"]
        issued_at = datetime.fromtimestamp(_decimal(query["ts"]), UTC)
        given = query["hash"].encode("ascii")
    except (KeyError, ValueError, OverflowError, OSError) as error:
        raise SurveyLinkInvalid("invalid_link", "the survey link is incomplete") from error
    link = SurveyLink(app_id, uid, network_id, survey_id, issued_at)
    if not hmac.compare_digest(link_hash(secret, link).encode("ascii"), given):
        raise SurveyLinkInvalid("invalid_link", "the survey link's signature does not match")
    if issued_at > now + CLOCK_SKEW:
        raise SurveyLinkInvalid("invalid_link", "the survey link was issued in the future")
    if now - issued_at > validity:
        raise SurveyLinkInvalid("expired_link", "the survey link has expired")
    return link
