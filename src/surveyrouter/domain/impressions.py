"""The impression token of a v2 listing's ``click_url`` (``/v2/client/clicks?i=&s=``).

BitLabs names an impression (``i``) per listed survey and a session (``s``) per listing. Here
the impression is self-contained rather than a database row per survey shown: it names the
app, the user, the survey (or the start bonus), the session, when it was listed and the
custom tags, and is signed with the server's link secret (as ``survey_links`` signs v1 links),
so no user can click for another user, another survey or with other tags. Valid for a day.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from surveyrouter.domain.survey_links import CLOCK_SKEW, LINK_VALIDITY
from surveyrouter.domain.tags import TagsInvalid, check_tag

# Separates these signatures from any other the link secret makes.
_PURPOSE = b"surveyrouter v2 impression\x1f"
_SESSION = re.compile(r"[A-Za-z0-9-]{1,64}")
# The largest token the rules allow — ten tags of 50-character keys and 50 four-byte
# characters of value, a 65-character uid — is under 4,500 characters (the test says so); a
# longer one is no token of ours.
MAX_TOKEN_LENGTH = 6144


class ClickType(enum.Enum):
    """What a v2 listing entry (and its click) leads to (client API §2.1)."""

    SURVEY = "survey"
    START_BONUS = "start_bonus"


class ImpressionInvalid(ValueError):
    """An impression that cannot be clicked. ``reason``: ``malformed`` (not one of ours in
    shape), ``forged`` (the signature or the session does not match) or ``expired``."""

    def __init__(self, reason: str, message: str, impression: Impression | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        # An expired impression is still ours (its signature checked): who it was for.
        self.impression = impression


@dataclass(frozen=True, slots=True)
class Impression:
    """One listed entry as shown to one user. ``network_api_id`` and ``opportunity_id`` are
    None for the start bonus; ``issued_at`` is whole seconds."""

    app_id: int
    uid: str
    type: ClickType
    network_api_id: int | None
    opportunity_id: int | None
    session_id: str
    issued_at: datetime
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def __post_init__(self) -> None:
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must be timezone-aware")
        if (self.type is ClickType.SURVEY) != (self.opportunity_id is not None):
            raise ValueError("a survey impression names its opportunity, a start bonus none")
        if not _SESSION.fullmatch(self.session_id):
            raise ValueError(f"session id {self.session_id!r} is not 1-64 letters, digits or -")
        object.__setattr__(self, "issued_at", self.issued_at.replace(microsecond=0))
        object.__setattr__(self, "tags", MappingProxyType(dict(self.tags)))


def sign_impression(secret: bytes, impression: Impression) -> str:
    """The ``i`` parameter: the impression as URL-safe base64 JSON, a dot, its HMAC-SHA256."""
    document = {
        "a": impression.app_id,
        "u": impression.uid,
        "k": impression.type.value,
        "n": impression.network_api_id,
        "o": impression.opportunity_id,
        "s": impression.session_id,
        "t": int(impression.issued_at.timestamp()),
        "g": dict(impression.tags),
    }
    # UTF-8 as it is: JSON escapes would make a tag of emoji three times as long.
    text = json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    body = _b64(text.encode())
    return f"{body}.{_b64(_signature(secret, body))}"


def check_session(session_id: str) -> None:
    """Raise ``ImpressionInvalid`` (malformed) for an ``s`` no listing could have made."""
    if not _SESSION.fullmatch(session_id):
        raise ImpressionInvalid("malformed", "the session id is not 1-64 letters, digits or -")


def read_impression(
    secret: bytes,
    token: str,
    session_id: str,
    now: datetime,
    *,
    validity: timedelta = LINK_VALIDITY,
) -> Impression:
    """The impression ``token`` stands for, if we signed it for session ``session_id`` and it
    is still valid; raises ``ImpressionInvalid``."""
    check_session(session_id)
    body, dot, signature = token.partition(".")
    if not dot or len(token) > MAX_TOKEN_LENGTH:
        raise ImpressionInvalid("malformed", "the impression id is not one of ours")
    try:
        given = _unb64(signature)
        document = json.loads(_unb64(body))
    except (ValueError, binascii.Error) as error:
        raise ImpressionInvalid("malformed", "the impression id is not one of ours") from error
    if not hmac.compare_digest(_signature(secret, body), given):
        raise ImpressionInvalid("forged", "the impression id's signature does not match")
    impression = _impression(document)
    if impression.session_id != session_id:
        raise ImpressionInvalid("forged", "the impression was listed in another session")
    if impression.issued_at > now + CLOCK_SKEW:
        raise ImpressionInvalid("forged", "the impression was issued in the future")
    if now - impression.issued_at > validity:
        raise ImpressionInvalid("expired", "the impression has expired", impression)
    return impression


def _impression(document: object) -> Impression:
    # Signed by us, so well-formed unless the secret leaked or the format changed: checked
    # anyway, since a bad field must be a refusal, not a server error.
    try:
        if not isinstance(document, dict):
            raise TypeError("not an object")
        tags = document["g"]
        if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
        ):
            raise TypeError("tags are not strings")
        for key, value in tags.items():
            check_tag(key, value)
        return Impression(
            app_id=_integer(document["a"]),
            uid=str(document["u"]),
            type=ClickType(document["k"]),
            network_api_id=None if document["n"] is None else _integer(document["n"]),
            opportunity_id=None if document["o"] is None else _integer(document["o"]),
            session_id=str(document["s"]),
            issued_at=datetime.fromtimestamp(_integer(document["t"]), UTC),
            tags=tags,
        )
    except (KeyError, TypeError, ValueError, TagsInvalid, OverflowError, OSError) as error:
        raise ImpressionInvalid("malformed", "the impression id is not one of ours") from error


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{value!r} is not an integer")
    return value


def _signature(secret: bytes, body: str) -> bytes:
    return hmac.new(secret, _PURPOSE + body.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
