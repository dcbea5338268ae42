"""Respondent Gateway links (REX §6): the signed entry link, the signed return, the callback."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from surveyrouter.domain.opportunity import Opportunity
from surveyrouter.domain.outcome import Outcome
from surveyrouter.domain.profile import Gender, Profile
from surveyrouter.networks.rex.signing import (
    KeyPair,
    Secrets,
    sign_url,
    verify_request,
    verify_url,
)

# REX §6.3: what the gateway reads from an entry link; pass-through names must differ.
ENTRY_PARAMETERS = frozenset(
    {"ctx", "respondent_id", "language", "gender", "birth_date", "postal_code",
     "access_key", "expiration", "signature"}
)  # fmt: skip

_OUTCOMES = {
    0: Outcome.ERROR,
    1: Outcome.COMPLETE,
    2: Outcome.SCREENOUT,
    3: Outcome.OVERQUOTA,
    4: Outcome.DUPLICATE,
    5: Outcome.QUALITY,
}

# REX §6.5, keyed (disposition, status). New statuses appear without notice (§6.5), so a pair
# not listed here is kept and classified by its disposition alone.
STATUS_NAMES: Mapping[tuple[int, int], str] = {
    (0, 0): "Unknown", (0, 1): "Missing Language", (0, 2): "Missing Respondent ID",
    (0, 3): "Declined Consent", (0, 4): "Underage", (0, 5): "Invalid Locale",
    (0, 6): "Invalid Country", (0, 7): "Invalid Language", (0, 8): "Inactive Respondent",
    (0, 9): "Respondent Not Found",
    (1, 0): "Complete", (1, 1): "Partial Complete",
    (2, 1): "Dynata Disqualification", (2, 2): "Client Disqualification",
    (2, 3): "Incompatible Country", (2, 4): "Incompatible Language",
    (2, 5): "Incompatible Device", (2, 6): "Filter Disqualification",
    (2, 7): "Quota Disqualification", (2, 8): "Undisclosed Filter",
    (2, 10): "Partner Disqualification",
    (3, 0): "Default Over Quota", (3, 1): "Dynata Over Quota", (3, 2): "Client Over Quota",
    (3, 3): "Dynata Closed Quota", (3, 10): "Quota Group Not Open",
    (3, 11): "Quota Group Field Schedule", (3, 12): "Quota Group Click Balance",
    (3, 20): "Quota Cell Not Open", (3, 21): "Quota Cell Field Schedule",
    (3, 22): "Quota Cell Click Balance",
    (4, 0): "Duplicate", (4, 1): "Duplicate Respondent", (4, 2): "Category Exclusion",
    (5, 0): "General Quality", (5, 1): "Answer Quality", (5, 2): "Speeding",
    (5, 3): "Suspended (blocked)", (5, 4): "Predicted Reconciliation", (5, 10): "Daily Limit",
}  # fmt: skip

# REX §3.1 (FAQ): outcomes that exclude the respondent from opportunities listing the project
# or category: any complete, client disqualification, client over-quota.
_EXCLUDING = frozenset({(2, 2), (3, 2)})


@dataclass(frozen=True, slots=True)
class Disposition:
    """A REX (disposition, status) pair with what it means for the router."""

    disposition: int
    status: int

    @property
    def outcome(self) -> Outcome:
        return _OUTCOMES.get(self.disposition, Outcome.ERROR)

    @property
    def name(self) -> str:
        known = STATUS_NAMES.get((self.disposition, self.status))
        return known or f"Unlisted status {self.disposition}.{self.status}"

    @property
    def is_listed(self) -> bool:
        return (self.disposition, self.status) in STATUS_NAMES

    @property
    def excludes(self) -> bool:
        """Whether this ending excludes the respondent from projects and categories (§3.1)."""
        return self.disposition == 1 or (self.disposition, self.status) in _EXCLUDING


def entry_link(
    live_link: str,
    keys: KeyPair,
    expires_at: datetime,
    respondent_id: str,
    *,
    language: str | None = None,
    gender: Gender | None = None,
    birth_date: date | None = None,
    postal_code: str | None = None,
    passthrough: Mapping[str, str] | None = None,
) -> str:
    """The signed link that sends a respondent into an opportunity (§6.3).

    Known standard profile fields are passed so Dynata need not prescreen them. ``passthrough``
    parameters come back on the return link; their names must not be REX's own.
    """
    clashes = sorted(set(passthrough or {}) & ENTRY_PARAMETERS)
    if clashes:
        raise ValueError(f"pass-through names reserved by REX: {', '.join(clashes)}")
    present = {name for name, _ in parse_qsl(urlsplit(live_link).query, keep_blank_values=True)}
    fields = {
        "respondent_id": respondent_id,
        "language": language,
        "gender": None if gender is None else gender.name.lower(),
        "birth_date": None if birth_date is None else birth_date.isoformat(),
        "postal_code": postal_code,
    }
    # The live link usually names its language already; one parameter name appears once.
    extra = {name: value for name, value in fields.items() if value and name not in present}
    return sign_url(live_link, keys, expires_at, {**extra, **(passthrough or {})})


@dataclass(frozen=True, slots=True)
class Return:
    """A verified return from the gateway (§6.4)."""

    disposition: Disposition
    parameters: dict[str, str]  # pass-through and other extraneous parameters
    expires_at: datetime
    late: bool  # authentic, but arrived after its expiration (within the grace allowed)


class ReturnInvalid(ValueError):
    """A return link that is not a REX return: unsigned, forged, or malformed."""


def verify_return(
    url: str, redirect_secrets: Secrets, now: datetime, grace: timedelta = timedelta(0)
) -> Return:
    """Verify an end link with the redirect key pair and read its disposition and status.

    An authentic link past its expiration is accepted within ``grace`` (flagged ``late``); past
    that it raises ``SignatureExpired``, distinct from ``SignatureInvalid`` for a forged one.
    """
    verified = verify_url(url, redirect_secrets, now, grace)
    parameters = dict(verified.parameters)
    disposition = _disposition(parameters.pop("disposition", None), parameters.pop("status", None))
    return Return(disposition, parameters, verified.expires_at, late=now >= verified.expires_at)


@dataclass(frozen=True, slots=True)
class Callback:
    """A verified server-to-server callback (§1.5)."""

    respondent_id: str
    disposition: Disposition
    parameters: dict[str, str]


def verify_callback(
    headers: Mapping[str, str], body: bytes, redirect_secrets: Secrets, now: datetime
) -> Callback:
    """Verify a callback POST (signed like a request, with the redirect key pair) and read it."""
    verify_request(headers, body, redirect_secrets, now)
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError) as error:
        # ValueError: not JSON, not UTF-8, or an integer past Python's 4,300 digits;
        # RecursionError: nested deeper than the parser goes.
        raise ReturnInvalid("callback body is not JSON we can read") from error
    if not isinstance(document, dict) or not isinstance(document.get("respondent_id"), str):
        raise ReturnInvalid("callback body needs a respondent_id string")
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ReturnInvalid("callback parameters must be an object")
    return Callback(
        respondent_id=document["respondent_id"],
        disposition=_disposition(document.get("disposition"), document.get("status")),
        parameters={str(k): str(v) for k, v in parameters.items()},
    )


def _disposition(disposition: object, status: object) -> Disposition:
    unreadable = f"disposition {disposition!r} / status {status!r} unreadable"
    try:
        pair = Disposition(int(str(disposition)), int(str(status)))
    except ValueError as error:
        raise ReturnInvalid(unreadable) from error
    if not (0 <= pair.disposition <= MAX_CODE and 0 <= pair.status <= MAX_CODE):
        raise ReturnInvalid(unreadable)
    return pair


# The largest disposition or status kept (the clicks table stores them as 32-bit integers);
# REX's own codes are one or two digits.
MAX_CODE = 2**31 - 1


# How long the signed entry link our open endpoint redirects to stays valid: the browser
# follows the redirect at once, so a short life leaves little for anyone who copies one.
ENTRY_LINK_VALIDITY = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class EntryLinks:
    """Signs entry links for one REX-compatible network (Dynata, or the bundled sandbox)."""

    keys: KeyPair
    validity: timedelta = ENTRY_LINK_VALIDITY

    def entry_url(
        self,
        opportunity: Opportunity,
        respondent_id: str,
        profile: Profile,
        passthrough: Mapping[str, str],
        now: datetime,
    ) -> str:
        """The link that sends ``respondent_id`` into ``opportunity`` with the standard
        profile we know, so Dynata need not prescreen it again (§6.3)."""
        return entry_link(
            opportunity.live_link,
            self.keys,
            now + self.validity,
            respondent_id,
            language=profile.language,
            gender=profile.gender,
            birth_date=profile.birth_date,
            postal_code=profile.postal_code,
            passthrough=passthrough,
        )
