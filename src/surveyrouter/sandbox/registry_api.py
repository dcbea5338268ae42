"""The sandbox Opportunity Registry's routes: the paths of REX §2, relative to the sandbox root.

Unknown opportunities are 404 ``{"message"}``; unknown collections 404 ``{"error"}`` (§0).
"""

from __future__ import annotations

import csv
import io
from typing import Any, cast

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from surveyrouter.networks.rex.registry import MAX_LIMIT, MAX_SHARDS, MAX_VISIBILITY_TIMEOUT
from surveyrouter.sandbox.http import (
    Caller,
    Refused,
    Registry,
    bad_request,
    code,
    integer,
    is_int,
    kind,
    object_body,
    refused,
    shown,
)
from surveyrouter.sandbox.registry import (
    DEFAULT_LIMIT,
    CollectionNotFound,
    InviteCollectionNotFound,
    OpportunityNotFound,
    Shard,
)

__all__ = ["router"]

INVITE_CSV_COLUMNS = ("id", "collection_id", "respondent_id", "expiration", "created", "modified")

router = APIRouter()


@router.post("/receive-notifications", response_class=Response)
def receive_notifications(caller: Caller, registry: Registry) -> Response:
    body = object_body(caller.body)
    items, count, total = registry.receive_json(
        caller.access_key,
        limit=integer(body, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT),
        shard=_shard(body.get("shards")),
        visibility_timeout=integer(body, "visibility_timeout", 0, MAX_VISIBILITY_TIMEOUT, 0),
    )
    # §2.1, documented in the 2022 updates; underscores, not hyphens.
    headers = {"notification_count": str(count), "notification_total": str(total)}
    return Response(items, media_type="application/json", headers=headers)


@router.post("/ack-notifications", status_code=204, response_class=Response)
def ack_notifications(caller: Caller, registry: Registry) -> Response:
    registry.ack(caller.access_key, _ids(caller.body, "opportunity_ids", "opportunity id"))
    return Response(status_code=204)


@router.post("/get-opportunity")
def get_opportunity(caller: Caller, registry: Registry) -> dict[str, Any]:
    body = object_body(caller.body)
    by_group = any(name in body for name in ("group_id", "country", "language"))
    if "id" in body and by_group:
        raise bad_request('send either "id" or "group_id", "country" and "language", not both')
    try:
        if not by_group:
            return registry.get(integer(body, "id", 1))
        return registry.group(
            integer(body, "group_id", 1),
            code(body, "country"),
            code(body, "language"),
        )
    except OpportunityNotFound as error:
        raise refused(404, str(error)) from error


@router.post("/list-project-opportunities")
def list_project_opportunities(caller: Caller, registry: Registry) -> list[int]:
    return registry.project(integer(object_body(caller.body), "project_id", 1))


@router.post("/download-collection", response_class=PlainTextResponse)
def download_collection(caller: Caller, registry: Registry) -> PlainTextResponse:
    collection_id = _collection_id(caller.body)
    try:
        values = registry.collection(collection_id)
    except CollectionNotFound as error:
        message = f"collection with id {collection_id} was not found"
        raise Refused(404, {"error": message}) from error
    return _download("\n".join(values), bool(values))


@router.post("/receive-invites")
# The SDK's spelling (§2.6); it sends only a limit.
@router.post("/receive_invites", include_in_schema=False)
def receive_invites(caller: Caller, registry: Registry) -> list[dict[str, Any]]:
    body = object_body(caller.body)
    messages, _count, _total = registry.receive_invites(
        caller.access_key,
        limit=integer(body, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT),
        visibility_timeout=integer(body, "visibility_timeout", 0, MAX_VISIBILITY_TIMEOUT, 0),
    )
    # §2.6 documents three count headers whose names were not visible; none are invented here.
    return messages


@router.post("/ack-invites", status_code=204, response_class=Response)
def ack_invites(caller: Caller, registry: Registry) -> Response:
    registry.ack_invites(caller.access_key, _ids(caller.body, "invite_ids", "invite id"))
    return Response(status_code=204)


@router.post("/download-invite-collection", response_class=PlainTextResponse)
def download_invite_collection(caller: Caller, registry: Registry) -> PlainTextResponse:
    collection_id = _collection_id(caller.body)
    try:
        invites = registry.invite_collection(collection_id)
    except InviteCollectionNotFound as error:
        message = f"invite collection with id {collection_id} was not found"
        raise Refused(404, {"error": message}) from error
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(INVITE_CSV_COLUMNS)
    for invite in invites:
        writer.writerow(["" if invite.get(c) is None else invite[c] for c in INVITE_CSV_COLUMNS])
    return _download(text.getvalue(), bool(invites))


def _download(text: str, available: bool) -> PlainTextResponse:
    # §2.5: the status header says whether the payload holds anything.
    status = "AVAILABLE" if available else "EMPTY_PAYLOAD"
    return PlainTextResponse(text, media_type="text/csv", headers={"status": status})


# --- request bodies (§2) -----------------------------------------------------------------------


def _shard(value: Any) -> Shard | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(f'"shards" must be an object {{count, current}}, not {kind(value)}')
    count = integer(value, "count", 1, MAX_SHARDS)
    current = integer(value, "current", 1, MAX_SHARDS)
    if current > count:
        raise bad_request(f'shard "current" {current} is greater than "count" {count}')
    return Shard(count, current)


def _ids(body: Any, wrapper: str, what: str) -> list[int]:
    # §2.2: a bare array of ids; the PHP SDK wraps it in {"opportunity_ids": […]} — accepted.
    if isinstance(body, dict) and wrapper in body:
        body = body[wrapper]
    if not isinstance(body, list):
        raise bad_request(f"expected a JSON array of {what}s, got {kind(body)}")
    for value in body:
        if not is_int(value) or value < 1:
            raise bad_request(f"every {what} must be a positive integer, not {shown(value)}")
    return cast(list[int], body)


def _collection_id(body: Any) -> str:
    # §2.5: the id is a string; a number is taken too, as cells sometimes carry one.
    value = object_body(body).get("id")
    if is_int(value) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise bad_request(f'"id" must be a non-empty string, not {shown(value)}')
