"""The response envelope publishers' SDKs parse (client API §1.3).

Every body, success or error, carries all four keys: the SDKs model ``status`` and ``trace_id``
as non-optional.
"""

from __future__ import annotations

import secrets
from http import HTTPStatus
from typing import Any, Generic, Literal, TypeVar

from fastapi import Response
from pydantic import BaseModel

from surveyrouter.logging_setup import trace_id_var
from surveyrouter.stage_timing import stage

T = TypeVar("T")


class ErrorDetails(BaseModel):
    http: str
    msg: str


class Error(BaseModel):
    details: ErrorDetails


class Envelope(BaseModel, Generic[T]):
    data: T | None
    error: Error | None
    status: Literal["success", "error"]
    trace_id: str


def new_trace_id() -> str:
    # §1.3: 16 hex characters in every example.
    return secrets.token_hex(8)


def current_trace_id() -> str:
    return trace_id_var.get() or new_trace_id()


def ok(data: T) -> Envelope[T]:
    return Envelope[T](data=data, error=None, status="success", trace_id=current_trace_id())


def ok_response(data: BaseModel) -> Response:
    """``ok(data)`` as a finished JSON response, encoded by pydantic in one pass, for routes
    that declare their ``response_model``: a returned model would be validated all over again
    against it before being encoded, which for a page of surveys costs more than encoding."""
    envelope = ok(data)
    with stage("serialise"):
        return Response(envelope.model_dump_json(), media_type="application/json")


def error_body(status_code: int, msg: str, trace_id: str | None = None) -> dict[str, Any]:
    """An error envelope; ``http`` is the full status line, e.g. "404 Not Found" (§1.3)."""
    try:
        status_line = f"{status_code} {HTTPStatus(status_code).phrase}"
    except ValueError:
        status_line = str(status_code)
    envelope: Envelope[None] = Envelope(
        data=None,
        error=Error(details=ErrorDetails(http=status_line, msg=msg)),
        status="error",
        trace_id=trace_id or current_trace_id(),
    )
    return envelope.model_dump(mode="json")
