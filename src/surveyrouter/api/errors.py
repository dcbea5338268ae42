"""Every error leaves the API in the envelope, so an SDK can always parse the body."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from surveyrouter.api.envelope import error_body
from surveyrouter.api.observability import TRACE_ID_SCOPE_KEY

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)


def _respond(request: Request, status_code: int, msg: str) -> JSONResponse:
    trace_id = request.scope.get(TRACE_ID_SCOPE_KEY)
    # A message may quote what the caller sent, lone surrogates included (a JSON body's
    # "\ud800"), which UTF-8 cannot carry: they are written out as escapes.
    printable = msg.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse(error_body(status_code, printable, trace_id), status_code=status_code)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    try:
        phrase = HTTPStatus(error.status_code).phrase
    except ValueError:  # a status the standard library does not name, such as 499
        phrase = "error"
    msg = (
        error.detail if isinstance(error.detail, str) and error.detail != phrase else phrase.lower()
    )
    response = _respond(request, error.status_code, msg)
    if error.headers:
        response.headers.update(error.headers)
    return response


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem.get("loc", ()))
        problems.append(f"{where}: {_lower_first_word(problem.get('msg', 'invalid'))}")
    return _respond(request, 422, "; ".join(problems) or "invalid request")


def _lower_first_word(message: str) -> str:
    """ "Input should be 'OTHER'" as "input should be 'OTHER'": the envelope's messages are
    lower case, but what a message quotes (allowed values, patterns) must stay as it is, and
    so must an acronym ("JSON decode error")."""
    word, space, rest = message.partition(" ")
    if len(word) > 1 and word.isupper():
        return message
    return word.lower() + space + rest


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    # RequestObservation answers errors raised inside it; this catches what fails outside it
    # (another middleware), so a caller still gets the envelope rather than plain text.
    log.error("unhandled error", exc_info=error)
    return _respond(request, 500, "internal server error")
