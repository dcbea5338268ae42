"""Where exchanges tell us how a click ended: the user's signed return (REX §6.4) and the
server-to-server callback (REX §1.5), both verified with that network's redirect key pair.
The result page users land on when their app has no redirect URL of its own is
``web.results``.

Every refusal is in the envelope: 401 for a forged or tampered signature, 410 for an
authentic return past its grace period, 400 for a message we cannot read, 404 for a network
or click we do not know. An accepted message is recorded in one transaction or not at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from surveyrouter.api.body_limit import read_body
from surveyrouter.api.client_context import request_ip
from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.api.envelope import Envelope, ok
from surveyrouter.bootstrap import Runtime, redirect_secrets
from surveyrouter.clock import utc_now
from surveyrouter.domain.clicks import OutcomeSource
from surveyrouter.networks.rex.gateway import (
    Disposition,
    ReturnInvalid,
    verify_callback,
    verify_return,
)
from surveyrouter.networks.rex.signing import Secrets, SignatureError, SignatureExpired
from surveyrouter.services.outcomes import (
    ClickNotFound,
    OutcomeRecorded,
    RespondentMismatch,
    record_outcome,
    redirect_after,
)
from surveyrouter.services.survey_entry import CLICK_PARAMETER

router = APIRouter(prefix="/v1/exchanges", tags=["exchanges"])

# A callback body is a few hundred bytes (REX §1.5); anything near this is not one.
MAX_CALLBACK_BYTES = 64 * 1024

NetworkId = Annotated[str, Path(max_length=32, description="Our network id: sandbox or rex.")]
ClickId = Annotated[str, Path(description="The click id.")]


def network_redirect_secrets(runtime: RuntimeDep, network_id: NetworkId) -> Secrets:
    """The key pair the network signs returns and callbacks with; 404 for a network we do
    not know or whose redirect keys are not configured."""
    secrets = redirect_secrets(runtime.settings).get(network_id)
    if not secrets:
        raise HTTPException(404, f"network not found: {network_id}")
    return secrets


RedirectSecrets = Annotated[Secrets, Depends(network_redirect_secrets)]


async def callback_body(request: Request) -> bytes:
    """The raw body, refused with 413 once it passes ``MAX_CALLBACK_BYTES``."""
    return await read_body(request, MAX_CALLBACK_BYTES)


CallbackBody = Annotated[bytes, Depends(callback_body)]


class CallbackRecorded(BaseModel):
    """``recorded``: this callback ended the click (False: the return or an earlier callback
    had already, and nothing changed)."""

    recorded: bool


@router.get("/{network_id}/return", response_class=RedirectResponse, status_code=303)
def get_return(
    request: Request, runtime: RuntimeDep, network_id: NetworkId, secrets: RedirectSecrets
) -> RedirectResponse:
    """The user back from the exchange (REX §6.4): record the outcome, then on to the app's
    redirect URL for it, or to our result page."""
    now = utc_now()
    grace = timedelta(hours=runtime.settings.return_grace_hours)
    # Only the query is signed (REX §1.4); the host the request names plays no part.
    try:
        returned = verify_return(f"{request.url.path}?{request.url.query}", secrets, now, grace)
    except SignatureExpired as error:
        raise HTTPException(410, f"the return link expired too long ago: {error}") from error
    except SignatureError as error:
        raise HTTPException(401, f"the return link is not signed: {error}") from error
    except ReturnInvalid as error:
        raise HTTPException(400, f"the return link is unreadable: {error}") from error
    recorded = _record(
        runtime,
        network_id,
        returned.parameters,
        returned.disposition,
        OutcomeSource.RETURN,
        now,
        ip_address=request_ip(request),
    )
    target = redirect_after(recorded.app, recorded.user, recorded.click, recorded.reward)
    if target is None:
        target = str(request.app.url_path_for("exchange_result", click_id=recorded.click.id))
    return RedirectResponse(target, status_code=303)


@router.post("/{network_id}/callback")
def post_callback(
    request: Request,
    runtime: RuntimeDep,
    network_id: NetworkId,
    secrets: RedirectSecrets,
    body: CallbackBody,
) -> Envelope[CallbackRecorded]:
    """The exchange's server-to-server callback (REX §1.5), signed like a request."""
    now = utc_now()
    try:
        callback = verify_callback(request.headers, body, secrets, now)
    except SignatureError as error:
        raise HTTPException(401, f"the callback is not signed: {error}") from error
    except ReturnInvalid as error:
        raise HTTPException(400, f"the callback is unreadable: {error}") from error
    recorded = _record(
        runtime,
        network_id,
        callback.parameters,
        callback.disposition,
        OutcomeSource.CALLBACK,
        now,
        respondent_id=callback.respondent_id,
    )
    return ok(CallbackRecorded(recorded=recorded.first))


def _record(
    runtime: Runtime,
    network_id: str,
    parameters: dict[str, str],
    disposition: Disposition,
    source: OutcomeSource,
    at: datetime,
    *,
    ip_address: str | None = None,
    respondent_id: str | None = None,
) -> OutcomeRecorded:
    click_id = parameters.get(CLICK_PARAMETER)
    if not click_id:
        raise HTTPException(400, f"the exchange sent no {CLICK_PARAMETER} parameter")
    try:
        return record_outcome(
            runtime.sessions,
            click_id,
            disposition,
            source,
            at,
            ip_address=ip_address,
            network_id=network_id,
            respondent_id=respondent_id,
        )
    except ClickNotFound as error:
        raise HTTPException(404, f"click not found: {click_id}") from error
    except RespondentMismatch as error:
        raise HTTPException(400, f"respondent_id: {error}") from error
