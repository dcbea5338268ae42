"""Client API authentication (client API §1.2): ``X-Api-Token`` + ``X-User-Id`` headers, or
``token`` + ``uid`` query parameters as the hosted offerwall and browsers send them."""

from __future__ import annotations

from fastapi import HTTPException, Request

from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.users import UserIdInvalid
from surveyrouter.services.callers import Identified, UnknownApiToken, identify
from surveyrouter.stage_timing import stage


def authenticate(
    request: Request, runtime: Runtime, api_token: str | None, user_id: str | None
) -> Identified:
    """The app and user of this call (``api_token`` and ``user_id`` from the headers, else
    the query), read only: ``on_sight`` creates a new user once the call is found valid.
    401 in the envelope when either is missing or the token is unknown, 400 for a user id
    that breaks the rules."""
    if not api_token:
        raise HTTPException(401, "missing api token: send X-Api-Token or ?token=")
    if user_id is None:
        raise HTTPException(401, "missing user id: send X-User-Id or ?uid=")
    try:
        with stage("auth"):
            return identify(
                api_token, user_id, request.app.state.apps_by_token, reads=runtime.reads
            )
    except UnknownApiToken as error:
        raise HTTPException(401, str(error)) from error
    except UserIdInvalid as error:
        raise HTTPException(400, f"uid: {error}") from error
