"""Opening a survey from its Get Actions ``link``, and leaving one (client API §2.3)."""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict

from surveyrouter.api.actions import OffersDep
from surveyrouter.api.client_context import (
    AuthenticatedCallDep,
    ClientRoute,
    caller_request,
    resolve_unrestricted,
)
from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.api.envelope import Envelope, ok
from surveyrouter.api.public_urls import public_url_for
from surveyrouter.clock import utc_now
from surveyrouter.domain.apps import App
from surveyrouter.domain.clicks import LeaveReason
from surveyrouter.domain.survey_links import SurveyLinkInvalid, read_link
from surveyrouter.services.callers import Caller, known_caller
from surveyrouter.services.survey_entry import (
    CannotOpen,
    NoOpenVisit,
    leave_survey,
    open_survey,
    termination_url,
)

router = APIRouter(prefix="/v1/client", tags=["client"], route_class=ClientRoute)

UNAVAILABLE_PATH = "/v1/client/survey-unavailable"

NetworkId = Annotated[int, Path(ge=1, le=2**31 - 1)]
SurveyId = Annotated[int, Path(ge=0, le=2**63 - 1)]
LinkPart = Annotated[str | None, Query(max_length=128)]


@router.get("/networks/{network_id}/surveys/{survey_id}/open", response_class=RedirectResponse)
def open_link(
    request: Request,
    runtime: RuntimeDep,
    offers: OffersDep,
    network_id: NetworkId,
    survey_id: SurveyId,
    app: LinkPart = None,
    uid: LinkPart = None,
    ts: LinkPart = None,
    hash: LinkPart = None,
) -> RedirectResponse:
    """Follow a survey link: 307 to the exchange's signed entry link, or 307 to the app's
    termination URL with the reason when the survey cannot be opened. A link we did not sign
    is 403, a VPN 406."""
    now = utc_now()
    parts = {"app": app, "uid": uid, "ts": ts, "hash": hash}
    given = {name: value for name, value in parts.items() if value is not None}
    try:
        link = read_link(offers.link_secret, network_id, survey_id, given, now)
    except SurveyLinkInvalid as error:
        if error.reason == "expired_link":
            caller = _link_caller(runtime, app, uid)
            if caller is not None:
                return _terminate(request, caller.app, error.reason)
            raise HTTPException(410, str(error)) from error
        raise HTTPException(403, str(error)) from error
    caller = _link_caller(runtime, str(link.app_id), link.uid)
    if caller is None:
        raise HTTPException(403, "the survey link names no known user")
    call = caller_request(request, caller, runtime)
    if call.context.anonymous_ip:
        raise HTTPException(406, "vpn detected")
    try:
        opened = open_survey(
            offers, request.app.state.entry_links, caller, call.context, network_id, survey_id, now
        )
    except CannotOpen as error:
        return _terminate(request, caller.app, error.reason)
    return RedirectResponse(opened.entry_url, status_code=307)


class LeaveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: LeaveReason


class Empty(BaseModel):
    pass


@router.post("/networks/{network_id}/surveys/{survey_id}/leave")
def post_leave(
    client: AuthenticatedCallDep,
    offers: OffersDep,
    network_id: NetworkId,
    survey_id: SurveyId,
    body: LeaveBody,
) -> Envelope[Empty]:
    """The user left the survey (the reason feeds ranking); their visit counts as abandoned."""
    call = resolve_unrestricted(client)
    try:
        leave_survey(offers, call.caller, network_id, survey_id, body.reason, utc_now())
    except NoOpenVisit as error:
        raise HTTPException(404, str(error)) from error
    return ok(Empty())


@router.get(UNAVAILABLE_PATH.removeprefix("/v1/client"), response_class=HTMLResponse)
def survey_unavailable(
    reason: Annotated[str, Query(max_length=64)] = "unavailable",
) -> HTMLResponse:
    """Where a survey that cannot be opened lands when the app set no termination URL."""
    text = html.escape(reason.replace("_", " "))
    return HTMLResponse(
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<title>Survey unavailable</title>"
        f"<h1>This survey is not available</h1><p>Reason: {text}.</p>"
        "<p>Go back to see the surveys you can take now.</p></html>"
    )


def _link_caller(runtime: RuntimeDep, app_id: str | None, uid: str | None) -> Caller | None:
    if app_id is None or uid is None or not app_id.isdigit():
        return None
    return known_caller(runtime.sessions, int(app_id), uid)


def _terminate(request: Request, app: App, reason: str) -> RedirectResponse:
    fallback = public_url_for(request, "survey_unavailable")
    return RedirectResponse(termination_url(app, fallback, {"reason": reason}), 307)
