"""The sandbox Opportunity Registry over HTTP: the paths of REX §2 at the service root.

Every operation is a signed ``POST`` of a JSON body (§0, §1.2). The signature is checked over the
raw body bytes before the body is read; a missing, invalid, unknown-key or expired signature is
401 ``{"message"}`` with a message that tells which (§1.3). A body that is not JSON, or not the
shape §2 documents, is 400 ``{"message"}`` naming the problem. Unknown fields are ignored.
Unknown opportunities are 404 ``{"message"}``; unknown collections 404 ``{"error"}`` (§0).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeGuard, cast

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from surveyrouter.networks.rex.registry import MAX_LIMIT, MAX_SHARDS, MAX_VISIBILITY_TIMEOUT
from surveyrouter.networks.rex.signing import SignatureError, verify_request
from surveyrouter.sandbox.registry import (
    DEFAULT_LIMIT,
    CollectionNotFound,
    InviteCollectionNotFound,
    OpportunityNotFound,
    RegistryState,
    Shard,
)

__all__ = ["create_registry_app"]

Clock = Callable[[], datetime]

INVITE_CSV_COLUMNS = ("id", "collection_id", "respondent_id", "expiration", "created", "modified")


@dataclass(frozen=True, slots=True)
class _Exchange:
    state: RegistryState
    secrets: Mapping[str, str]
    clock: Clock


@dataclass(frozen=True, slots=True)
class _Signed:
    """A request whose signature checked out: the caller's access key and its parsed body."""

    access_key: str
    body: Any


class _Refused(Exception):
    def __init__(self, status: int, body: dict[str, str]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def _bad_request(message: str) -> _Refused:
    return _Refused(400, {"message": message})


def _exchange(request: Request) -> _Exchange:
    return cast(_Exchange, request.app.state.exchange)


Exchange = Annotated[_Exchange, Depends(_exchange)]


async def _signed(request: Request, exchange: Exchange) -> _Signed:
    raw = await request.body()
    try:
        access_key = verify_request(request.headers, raw, exchange.secrets, exchange.clock())
    except SignatureError as error:
        # Each SignatureError says what was wrong (missing headers, unknown key, invalid,
        # expired) and never carries a secret.
        raise _Refused(401, {"message": str(error)}) from error
    if not raw.strip():
        raise _bad_request("the request body is empty; expected JSON")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise _bad_request(f"the request body is not JSON: {error}") from error
    return _Signed(access_key, body)


Caller = Annotated[_Signed, Depends(_signed)]

router = APIRouter()


@router.post("/receive-notifications")
def receive_notifications(
    caller: Caller, exchange: Exchange, response: Response
) -> list[dict[str, Any]]:
    body = _object(caller.body)
    items, count, total = exchange.state.receive(
        caller.access_key,
        limit=_integer(body, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT),
        shard=_shard(body.get("shards")),
        visibility_timeout=_integer(body, "visibility_timeout", 0, MAX_VISIBILITY_TIMEOUT, 0),
    )
    # §2.1, documented in the 2022 updates; underscores, not hyphens.
    response.headers["notification_count"] = str(count)
    response.headers["notification_total"] = str(total)
    return items


@router.post("/ack-notifications", status_code=204, response_class=Response)
def ack_notifications(caller: Caller, exchange: Exchange) -> Response:
    exchange.state.ack(caller.access_key, _ids(caller.body, "opportunity_ids", "opportunity id"))
    return Response(status_code=204)


@router.post("/get-opportunity")
def get_opportunity(caller: Caller, exchange: Exchange) -> dict[str, Any]:
    body = _object(caller.body)
    by_group = any(name in body for name in ("group_id", "country", "language"))
    if "id" in body and by_group:
        raise _bad_request('send either "id" or "group_id", "country" and "language", not both')
    try:
        if not by_group:
            return exchange.state.get(_integer(body, "id", 1))
        return exchange.state.group(
            _integer(body, "group_id", 1),
            _code(body, "country"),
            _code(body, "language"),
        )
    except OpportunityNotFound as error:
        raise _Refused(404, {"message": str(error)}) from error


@router.post("/list-project-opportunities")
def list_project_opportunities(caller: Caller, exchange: Exchange) -> list[int]:
    return exchange.state.project(_integer(_object(caller.body), "project_id", 1))


@router.post("/download-collection", response_class=PlainTextResponse)
def download_collection(caller: Caller, exchange: Exchange) -> PlainTextResponse:
    collection_id = _collection_id(caller.body)
    try:
        values = exchange.state.collection(collection_id)
    except CollectionNotFound as error:
        message = f"collection with id {collection_id} was not found"
        raise _Refused(404, {"error": message}) from error
    return _download("\n".join(values), bool(values))


@router.post("/receive-invites")
# The SDK's spelling (§2.6); it sends only a limit.
@router.post("/receive_invites", include_in_schema=False)
def receive_invites(caller: Caller, exchange: Exchange) -> list[dict[str, Any]]:
    body = _object(caller.body)
    messages, _count, _total = exchange.state.receive_invites(
        caller.access_key,
        limit=_integer(body, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT),
        visibility_timeout=_integer(body, "visibility_timeout", 0, MAX_VISIBILITY_TIMEOUT, 0),
    )
    # §2.6 documents three count headers whose names were not visible; none are invented here.
    return messages


@router.post("/ack-invites", status_code=204, response_class=Response)
def ack_invites(caller: Caller, exchange: Exchange) -> Response:
    exchange.state.ack_invites(caller.access_key, _ids(caller.body, "invite_ids", "invite id"))
    return Response(status_code=204)


@router.post("/download-invite-collection", response_class=PlainTextResponse)
def download_invite_collection(caller: Caller, exchange: Exchange) -> PlainTextResponse:
    collection_id = _collection_id(caller.body)
    try:
        invites = exchange.state.invite_collection(collection_id)
    except InviteCollectionNotFound as error:
        message = f"invite collection with id {collection_id} was not found"
        raise _Refused(404, {"error": message}) from error
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(INVITE_CSV_COLUMNS)
    for invite in invites:
        writer.writerow(["" if invite.get(c) is None else invite[c] for c in INVITE_CSV_COLUMNS])
    return _download(text.getvalue(), bool(invites))


def create_registry_app(state: RegistryState, secrets: Mapping[str, str], clock: Clock) -> FastAPI:
    """The sandbox registry: ``secrets`` maps each partner's access key to its secret key;
    ``clock`` both checks signature expirations and drives the queues' visibility timeouts."""
    app = FastAPI(title="surveyrouter sandbox: REX Opportunity Registry", docs_url=None)
    app.state.exchange = _Exchange(state, secrets, clock)
    app.include_router(router)
    app.add_exception_handler(_Refused, _refused)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    return app


# --- responses ---------------------------------------------------------------------------------


def _download(text: str, available: bool) -> PlainTextResponse:
    # §2.5: the status header says whether the payload holds anything.
    status = "AVAILABLE" if available else "EMPTY_PAYLOAD"
    return PlainTextResponse(text, media_type="text/csv", headers={"status": status})


async def _refused(request: Request, error: Exception) -> JSONResponse:
    refusal = cast(_Refused, error)
    return JSONResponse(refusal.body, status_code=refusal.status)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    failure = cast(StarletteHTTPException, error)
    return JSONResponse({"message": str(failure.detail)}, status_code=failure.status_code)


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse(
        {"message": "internal server error"}, status_code=500, headers={"status": "NOT_AVAILABLE"}
    )


# --- request bodies (§2) -----------------------------------------------------------------------


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _bad_request(f"expected a JSON object, got {_kind(body)}")
    return body


def _integer(
    body: Mapping[str, Any],
    name: str,
    low: int,
    high: int | None = None,
    default: int | None = None,
) -> int:
    value = body.get(name)
    if value is None:
        if default is None:
            raise _bad_request(f'"{name}" is required')
        return default
    span = f"{low}..{high}" if high is not None else f"at least {low}"
    if not _is_int(value) or value < low or (high is not None and value > high):
        raise _bad_request(f'"{name}" must be an integer {span}, not {json.dumps(value)}')
    return value


def _shard(value: Any) -> Shard | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad_request(f'"shards" must be an object {{count, current}}, not {_kind(value)}')
    count = _integer(value, "count", 1, MAX_SHARDS)
    current = _integer(value, "current", 1, MAX_SHARDS)
    if current > count:
        raise _bad_request(f'shard "current" {current} is greater than "count" {count}')
    return Shard(count, current)


def _code(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not (isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha()):
        raise _bad_request(f'"{name}" must be a two-letter code, not {json.dumps(value)}')
    return value


def _ids(body: Any, wrapper: str, what: str) -> list[int]:
    # §2.2: a bare array of ids; the PHP SDK wraps it in {"opportunity_ids": […]} — accepted.
    if isinstance(body, dict) and wrapper in body:
        body = body[wrapper]
    if not isinstance(body, list):
        raise _bad_request(f"expected a JSON array of {what}s, got {_kind(body)}")
    for value in body:
        if not _is_int(value) or value < 1:
            raise _bad_request(f"every {what} must be a positive integer, not {json.dumps(value)}")
    return cast(list[int], body)


def _collection_id(body: Any) -> str:
    # §2.5: the id is a string; a number is taken too, as cells sometimes carry one.
    value = _object(body).get("id")
    if _is_int(value) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise _bad_request(f'"id" must be a non-empty string, not {json.dumps(value)}')


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")
