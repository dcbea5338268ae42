"""Client API authentication (client API §1.2): ``X-Api-Token`` + ``X-User-Id`` headers, or
``token`` + ``uid`` query parameters as the hosted offerwall and browsers send them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, HTTPException, Query, Request

from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.domain.users import UserIdInvalid
from surveyrouter.services.callers import Caller, UnknownApiToken, identify
from surveyrouter.stage_timing import stage

ApiTokenHeader = Annotated[str | None, Header(include_in_schema=False)]
UserIdHeader = Annotated[str | None, Header(include_in_schema=False)]
ApiTokenQuery = Annotated[str | None, Query(description="API token, if not in X-Api-Token.")]
UserIdQuery = Annotated[str | None, Query(description="User id, if not in X-User-Id.")]


def authenticate(
    request: Request,
    runtime: Runtime,
    x_api_token: str | None,
    x_user_id: str | None,
    token: str | None,
    uid: str | None,
) -> Caller:
    """The app and user of this call; 401 in the envelope when either is missing or the token
    is unknown, 400 for a user id that breaks the rules.

    A plain function that ``client_request`` calls with the parameters above, rather than a
    dependency of its own: FastAPI runs each sync dependency in a thread-pool hop.
    """
    api_token = x_api_token if x_api_token is not None else token
    user_id = x_user_id if x_user_id is not None else uid
    if not api_token:
        raise HTTPException(401, "missing api token: send X-Api-Token or ?token=")
    if user_id is None:
        raise HTTPException(401, "missing user id: send X-User-Id or ?uid=")
    try:
        with stage("auth"):
            return identify(
                runtime.sessions, api_token, user_id, utc_now, request.app.state.apps_by_token
            )
    except UnknownApiToken as error:
        raise HTTPException(401, str(error)) from error
    except UserIdInvalid as error:
        raise HTTPException(400, f"uid: {error}") from error
