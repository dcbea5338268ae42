"""Why a user may not take surveys right now (client API §3.8 ``restriction_reason``).

Get Actions answers 200 with the reason; the other user endpoints refuse the call (406 for a
VPN, as BitLabs does). SDKs show the first reason that is set, in the order of the fields here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from surveyrouter.domain.apps import App
from surveyrouter.domain.client_context import ClientContext
from surveyrouter.domain.users import User


@dataclass(frozen=True, slots=True)
class Restriction:
    """``unsupported_country`` is the country the user was placed in, when the app does not
    serve it; ``reason`` is the ban's reason as the operator wrote it."""

    not_verified: bool = False
    using_vpn: bool = False
    banned_until: datetime | None = None
    reason: str | None = None
    unsupported_country: str | None = None

    @property
    def message(self) -> str:
        """The first reason, in words, for the endpoints that refuse the call."""
        if self.not_verified:
            return "app not verified"
        if self.using_vpn:
            return "vpn detected"
        if self.banned_until is not None:
            return f"user banned until {self.banned_until.isoformat()}"
        if self.unsupported_country is not None:
            return f"country not supported: {self.unsupported_country}"
        return self.reason or "restricted"


def restriction_for(
    app: App, user: User, context: ClientContext, now: datetime
) -> Restriction | None:
    """What keeps this user from surveys on this call, or None when nothing does."""
    banned = user.banned_at(now)
    restriction = Restriction(
        not_verified=not app.verified,
        using_vpn=context.anonymous_ip,
        banned_until=user.banned_until if banned else None,
        reason=user.ban_reason if banned else None,
        unsupported_country=None if app.serves_country(context.country) else context.country,
    )
    return None if restriction == Restriction() else restriction
