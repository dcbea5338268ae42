"""The survey links Get Actions hands out (``.../surveys/{s}/open?...&hash=``): signed, so a
user cannot open a survey for another user or app, and valid for a day."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
    fields = (link.app_id, link.uid, link.network_id, link.survey_id, link.timestamp)
    # A separator no field can contain (uids are printable ASCII), so fields cannot shift.
    message = "\x1f".join(str(value) for value in fields).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def link_query(secret: bytes, link: SurveyLink) -> dict[str, str]:
    """The signed query parameters that identify the click (the display parameters BitLabs'
    links also carry — rating, cr, loi, cpi — are the caller's to add; they are not trusted)."""
    return {
        "app": str(link.app_id),
        "uid": link.uid,
        "ts": str(link.timestamp),
        "hash": link_hash(secret, link),
    }


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
        app_id = int(query["app"])
        uid = query["uid"]
        issued_at = datetime.fromtimestamp(int(query["ts"]), UTC)
        given = query["hash"]
    except (KeyError, ValueError, OverflowError, OSError) as error:
        raise SurveyLinkInvalid("invalid_link", "the survey link is incomplete") from error
    link = SurveyLink(app_id, uid, network_id, survey_id, issued_at)
    if not hmac.compare_digest(link_hash(secret, link), given):
        raise SurveyLinkInvalid("invalid_link", "the survey link's signature does not match")
    if issued_at > now + CLOCK_SKEW:
        raise SurveyLinkInvalid("invalid_link", "the survey link was issued in the future")
    if now - issued_at > validity:
        raise SurveyLinkInvalid("expired_link", "the survey link has expired")
    return link
