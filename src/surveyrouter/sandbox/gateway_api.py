"""The sandbox Respondent Gateway's routes (REX §6), relative to the sandbox root.

The API operations of §6.1 are signed ``POST``s like the registry's. ``GET /start`` is where
respondents arrive on a signed entry link (§6.3); it answers with a 302 to the partner's signed
return (§6.4), after POSTing the signed callback when one is configured (§1.5). In interactive
mode it sends the respondent to a session's pages instead: the prescreen, then the client
survey, each a form whose answer leads on, in the end to the same signed return (303, as after
any form). ``GET /end`` is the sandbox's own return page, for running without a router.

Refused entries answer in REX's ``{"message"}`` shape too: 401 for a signature that is
missing, forged, expired or of an unknown key; 404 for an unknown context, 410 for an expired
one; 400 for any other bad parameter.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from surveyrouter.networks.rex.gateway import Disposition, ReturnInvalid, verify_return
from surveyrouter.networks.rex.signing import SignatureError, parse_expiration, sign_request
from surveyrouter.sandbox.contexts import ContextExists, ContextNotFound
from surveyrouter.sandbox.exchange import SandboxExchange
from surveyrouter.sandbox.gateway import (
    SURVEY_OUTCOMES,
    Dropout,
    EntryContextExpired,
    EntryRefused,
    EntryUnauthorized,
    Session,
    SessionNotFound,
    SessionStageMismatch,
    Stage,
    UnknownContext,
    Visit,
)
from surveyrouter.sandbox.http import (
    Caller,
    Exchange,
    Refused,
    bad_request,
    code,
    integer,
    object_body,
    refused,
    shown,
    text,
)
from surveyrouter.sandbox.pages import dropout_page, end_page, prescreen_page, survey_page
from surveyrouter.sandbox.respondents import (
    RespondentInvalid,
    RespondentNotFound,
    read_put_respondent,
    read_put_respondent_answers,
    read_respondent_id,
)

__all__ = ["router"]

logger = logging.getLogger(__name__)

# §1.5: "Upon receipt of a 200 HTTP status code, or exhaustion of the request timeout, the
# respondent will be immediately redirected"; the timeout is a strict 5 seconds.
CALLBACK_TIMEOUT_SECONDS = 5.0
CALLBACK_SIGNATURE_TTL = timedelta(minutes=5)
# §6.1: production lists the "top 500 attributes"; a page without a size gets them all.
DEFAULT_PAGE_SIZE = 500
MAX_FORM_FIELDS = 200

router = APIRouter()


# --- contexts (§6.1, §6.2) ---------------------------------------------------------------------


@router.post("/create-context")
def create_context(caller: Caller, exchange: Exchange) -> dict[str, str]:
    body = object_body(caller.body)
    items = _items(body.get("items"))
    context_id = text(body, "id", required=False)
    if context_id is not None and exchange.registry.opportunity_for_context(context_id, None):
        raise refused(422, f"context id {context_id!r} is an opportunity's own context")
    expiration = body.get("expiration")
    try:
        context = exchange.gateway.contexts.create(
            items,
            exchange.clock(),
            context_id=context_id,
            expiration=None if expiration is None else _timestamp("expiration", expiration),
        )
    except ContextExists as error:
        raise refused(422, str(error)) from error
    return {"id": context.id}


@router.post("/get-context")
def get_context(caller: Caller, exchange: Exchange) -> dict[str, Any]:
    context_id = text(object_body(caller.body), "id") or ""
    try:
        return exchange.gateway.contexts.get(context_id).document()
    except ContextNotFound as error:
        raise refused(404, str(error)) from error


@router.post("/expire-context")
def expire_context(caller: Caller, exchange: Exchange) -> dict[str, Any]:
    context_id = text(object_body(caller.body), "id") or ""
    try:
        return exchange.gateway.contexts.expire(context_id, exchange.clock()).document()
    except ContextNotFound as error:
        raise refused(404, str(error)) from error


# --- respondents (§6.1) ------------------------------------------------------------------------


@router.post("/put-respondent", status_code=204, response_class=Response)
def put_respondent(caller: Caller, exchange: Exchange) -> Response:
    body = object_body(caller.body)
    try:
        update = read_put_respondent(body, exchange.clock().date())
    except RespondentInvalid as error:
        raise refused(422, str(error)) from error
    exchange.gateway.put_respondent(update)
    return Response(status_code=204)


@router.post("/put-respondent-answers", status_code=204, response_class=Response)
def put_respondent_answers(caller: Caller, exchange: Exchange) -> Response:
    body = object_body(caller.body)
    try:
        exchange.gateway.put_answers(read_put_respondent_answers(body))
    except RespondentInvalid as error:
        raise refused(422, str(error)) from error
    except RespondentNotFound as error:
        raise refused(404, str(error)) from error
    return Response(status_code=204)


@router.post("/get-respondent-info")
def get_respondent_info(caller: Caller, exchange: Exchange) -> dict[str, Any]:
    body = object_body(caller.body)
    try:
        return exchange.gateway.respondent_info(read_respondent_id(body.get("respondent_id")))
    except RespondentInvalid as error:
        raise refused(422, str(error)) from error
    except RespondentNotFound as error:
        raise refused(404, str(error)) from error


# --- the attribute catalogue (§6.1) ------------------------------------------------------------


@router.post("/list-attributes")
# Deprecated in 2022 in favour of list-attributes (§8); still answered, the same way.
@router.post("/get-attributes", include_in_schema=False)
def list_attributes(caller: Caller, exchange: Exchange) -> dict[str, Any]:
    body = object_body(caller.body)
    page = exchange.attributes.list_attributes(
        code(body, "country").upper(),
        integer(body, "page_number", 0, default=1),
        integer(body, "page_size", 1, default=DEFAULT_PAGE_SIZE),
    )
    return {"data": page}


@router.post("/get-attribute-info")
def get_attribute_info(caller: Caller, exchange: Exchange) -> dict[str, Any]:
    body = object_body(caller.body)
    # §8, SDK PR #17: the key is attribute_id; the SDK sent "id" before, still taken.
    name = "id" if "attribute_id" not in body and "id" in body else "attribute_id"
    attribute_id = integer(body, name, 1)
    document = exchange.attributes.attribute_info(attribute_id)
    if document is None:
        raise refused(404, f"attribute {attribute_id} was not found")
    return document


# --- respondents arriving (§6.3) and going back (§6.4) -----------------------------------------


@router.get("/start", response_class=Response)
def start(request: Request, exchange: Exchange) -> Response:
    # Only the query is signed (§1.4); the host the request names plays no part.
    link = f"/start?{request.url.query}"
    agent = request.headers.get("user-agent", "")
    entered: Visit | Session | Dropout
    try:
        if exchange.options.interactive:
            entered = exchange.gateway.open(link, agent)
        else:
            entered = exchange.gateway.start(link, agent)
    except EntryRefused as error:
        raise refused(_entry_status(error), str(error)) from error
    if isinstance(entered, Session):
        return RedirectResponse(_session_url(exchange, entered.id), status_code=303)
    if isinstance(entered, Dropout):
        return HTMLResponse(dropout_page(entered.opportunity_id))
    return _send_back(exchange, entered, status=302)


async def _form(request: Request) -> dict[str, list[str]]:
    raw = await request.body()
    try:
        return parse_qs(
            raw.decode("utf-8", errors="replace"),
            keep_blank_values=True,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError as error:
        raise bad_request(f"the form is not readable: {error}") from error


Form = Annotated[dict[str, list[str]], Depends(_form)]


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def session_page(session_id: str, exchange: Exchange) -> HTMLResponse:
    session = _session(exchange, session_id)
    url = _session_url(exchange, session_id)
    if session.stage is Stage.PRESCREEN:
        return HTMLResponse(prescreen_page(session, f"{url}/prescreen"))
    return HTMLResponse(survey_page(session, f"{url}/survey"))


@router.post("/sessions/{session_id}/prescreen", response_class=Response)
def answer_prescreen(session_id: str, form: Form, exchange: Exchange) -> Response:
    try:
        after = exchange.gateway.answer_prescreen(session_id, form)
    except RespondentInvalid as error:
        session = _session(exchange, session_id)
        action = f"{_session_url(exchange, session_id)}/prescreen"
        return HTMLResponse(prescreen_page(session, action, str(error)), status_code=422)
    except (SessionNotFound, SessionStageMismatch) as error:
        raise _session_refusal(error) from error
    if isinstance(after, Session):
        return RedirectResponse(_session_url(exchange, session_id), status_code=303)
    return _send_back(exchange, after, status=303)


@router.post("/sessions/{session_id}/survey", response_class=Response)
def end_survey(session_id: str, form: Form, exchange: Exchange) -> Response:
    ending = _survey_outcome(form.get("outcome", []))
    try:
        visit = exchange.gateway.end_survey(session_id, ending)
    except (SessionNotFound, SessionStageMismatch) as error:
        raise _session_refusal(error) from error
    return _send_back(exchange, visit, status=303)


@router.get("/end", response_class=HTMLResponse)
def end(request: Request, exchange: Exchange) -> HTMLResponse:
    """The return page used when no partner return URL is configured: it checks the return's
    signature with the redirect keys, as a partner would, and shows the disposition."""
    keys = exchange.options.redirect_keys
    try:
        returned = verify_return(
            f"/end?{request.url.query}", {keys.access_key: keys.secret_key}, exchange.clock()
        )
    except SignatureError as error:
        raise refused(401, str(error)) from error
    except ReturnInvalid as error:
        raise refused(400, str(error)) from error
    return HTMLResponse(end_page(returned.disposition, returned.parameters))


def _send_back(exchange: SandboxExchange, visit: Visit, status: int) -> Response:
    _call_back(exchange, visit)
    return RedirectResponse(visit.redirect_url, status_code=status)


def _call_back(exchange: SandboxExchange, visit: Visit) -> None:
    """POST the callback signed with the redirect keys (§1.5). The respondent goes back
    whatever happens to it, so a failure is logged, never raised."""
    url = exchange.options.partner_callback_url
    if not url:
        return
    keys = exchange.options.redirect_keys
    headers = sign_request(keys, visit.callback_body, exchange.clock() + CALLBACK_SIGNATURE_TTL)
    headers["Content-Type"] = "application/json"
    try:
        response = httpx.post(
            url, content=visit.callback_body, headers=headers, timeout=CALLBACK_TIMEOUT_SECONDS
        )
    except Exception as error:  # any failure at all: the redirect must still happen
        logger.warning("sandbox callback to %s failed: %s", url, error or type(error).__name__)
        return
    if response.status_code != 200:
        logger.warning("sandbox callback to %s answered %d", url, response.status_code)


# --- helpers -----------------------------------------------------------------------------------


def _entry_status(error: EntryRefused) -> int:
    if isinstance(error, EntryUnauthorized):
        return 401
    if isinstance(error, UnknownContext):
        return 404
    if isinstance(error, EntryContextExpired):
        return 410
    return 400


def _session(exchange: SandboxExchange, session_id: str) -> Session:
    try:
        return exchange.gateway.session(session_id)
    except SessionNotFound as error:
        raise _session_refusal(error) from error


def _session_refusal(error: Exception) -> Refused:
    return refused(409 if isinstance(error, SessionStageMismatch) else 404, str(error))


def _session_url(exchange: SandboxExchange, session_id: str) -> str:
    return f"{exchange.options.base_url.rstrip('/')}/sessions/{session_id}"


def _survey_outcome(values: list[str]) -> Disposition:
    offered = {f"{d.disposition}.{d.status}": d for d in SURVEY_OUTCOMES}
    if len(values) != 1 or values[0] not in offered:
        choices = ", ".join(offered)
        raise bad_request(f'"outcome" must be one of {choices}, not {shown(values)}')
    return offered[values[0]]


def _items(value: Any) -> dict[str, str]:
    if value is None:
        raise bad_request('"items" is required')
    if not isinstance(value, dict):
        raise bad_request(f'"items" must be an object of strings, not {shown(value)}')
    for name, item in value.items():
        if not isinstance(item, str):
            raise bad_request(f'"items.{name}" must be a string, not {shown(item)}')
    return value


def _timestamp(name: str, value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_expiration(value)
        except ValueError:
            pass
    raise bad_request(f'"{name}" must be an RFC 3339 timestamp, not {shown(value)}')
