"""The BitLabs-compatible client API (v1): what a publisher's app calls for its user."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from surveyrouter.api.client_auth import ClientCaller
from surveyrouter.api.envelope import Envelope, ok

router = APIRouter(prefix="/v1/client", tags=["client"])


class ClientUser(BaseModel):
    """Client API §2.7. The router keeps no e-mail, consents or custom fields: those are
    null or empty, present because SDKs model them."""

    app_id: int
    uid: str
    user_id: int
    username: str | None
    email: str | None = None
    consent_general: str | None = None
    consent_analytics: str | None = None
    consent_advertising: str | None = None
    terms_of_service_version: int | None = None
    privacy_policy_version: int | None = None
    custom_fields: list[dict[str, Any]] = []
    offerwall_code: str | None = None
    country: str | None
    is_spin_available: bool = False
    spin_details: dict[str, Any] | None = None


@router.get("/user")
def get_user(caller: ClientCaller) -> Envelope[ClientUser]:
    """The calling user, created on first sight."""
    user = caller.user
    return ok(
        ClientUser(
            app_id=user.app_id,
            uid=user.uid,
            user_id=user.id,
            username=user.username,
            country=user.country,
        )
    )
