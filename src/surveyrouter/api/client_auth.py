"""Client API authentication (client API §1.2): ``X-Api-Token`` + ``X-User-Id`` headers, or
``token`` + ``uid`` query parameters as the hosted offerwall and browsers send them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, Request

from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.clock import utc_now
from surveyrouter.domain.users import UserIdInvalid
from surveyrouter.services.callers import Caller, UnknownApiToken, identify
from surveyrouter.stage_timing import stage


def client_caller(
    request: Request,
    runtime: RuntimeDep,
    x_api_token: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_user_id: Annotated[str | None, Header(include_in_schema=False)] = None,
    token: Annotated[str | None, Query(description="API token, if not in X-Api-Token.")] = None,
    uid: Annotated[str | None, Query(description="User id, if not in X-User-Id.")] = None,
) -> Caller:
    """The app and user of this call; 401 in the envelope when either is missing or the token
    is unknown, 400 for a user id that breaks the rules."""
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


ClientCaller = Annotated[Caller, Depends(client_caller)]
