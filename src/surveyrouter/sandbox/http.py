"""What every sandbox route shares: the exchange it serves, the signature check, refusals in
REX's shape, and readers of JSON bodies.

Every API operation is a signed ``POST`` of a JSON body (REX §0, §1.2). The signature is checked
over the raw body bytes before the body is read; a missing, invalid, unknown-key or expired
signature is 401 ``{"message"}`` with a message that tells which (§1.3). A body that is not
JSON, or not the shape the operation documents, is 400 ``{"message"}`` naming the problem.
Unknown fields are ignored. Nothing a caller sends is answered with a 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeGuard, cast

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from surveyrouter.networks.rex.signing import SignatureError, verify_request
from surveyrouter.sandbox.exchange import SandboxExchange
from surveyrouter.sandbox.registry import RegistryState


class Refused(Exception):
    """Answer the request with ``status`` and ``body`` (``{"message"}``, or ``{"error"}`` for
    the download endpoints, REX §0)."""

    def __init__(self, status: int, body: dict[str, str]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def refused(status: int, message: str) -> Refused:
    return Refused(status, {"message": message})


def bad_request(message: str) -> Refused:
    return refused(400, message)


Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Verifier:
    """Whose API calls an app takes: secret keys by access key, and the clock that judges
    signature expirations."""

    secrets: Mapping[str, str]
    clock: Clock


def serve_on(
    app: FastAPI,
    verifier: Verifier,
    registry: RegistryState,
    exchange: SandboxExchange | None = None,
) -> None:
    """Give ``app``'s routes what they read: the verifier, the registry and (for the gateway's
    routes) the whole exchange."""
    app.state.verifier = verifier
    app.state.registry = registry
    app.state.exchange = exchange


# ``request.app`` is the sandbox app itself, also when it is mounted inside another.


def _verifier(request: Request) -> Verifier:
    return cast(Verifier, request.app.state.verifier)


def _registry(request: Request) -> RegistryState:
    return cast(RegistryState, request.app.state.registry)


def _exchange(request: Request) -> SandboxExchange:
    exchange = request.app.state.exchange
    if exchange is None:  # a registry-only app never routes here
        raise refused(404, "this sandbox serves no gateway")
    return cast(SandboxExchange, exchange)


Registry = Annotated[RegistryState, Depends(_registry)]
Exchange = Annotated[SandboxExchange, Depends(_exchange)]


@dataclass(frozen=True, slots=True)
class Signed:
    """A request whose signature checked out: the caller's access key and its parsed body."""

    access_key: str
    body: Any


async def _signed(request: Request, verifier: Annotated[Verifier, Depends(_verifier)]) -> Signed:
    raw = await request.body()
    try:
        access_key = verify_request(request.headers, raw, verifier.secrets, verifier.clock())
    except SignatureError as error:
        # Each SignatureError says what was wrong (missing headers, unknown key, invalid,
        # expired) and never carries a secret.
        raise refused(401, str(error)) from error
    if not raw.strip():
        raise bad_request("the request body is empty; expected JSON")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise bad_request(f"the request body is not JSON: {error}") from error
    return Signed(access_key, body)


Caller = Annotated[Signed, Depends(_signed)]


def install_refusals(app: FastAPI) -> None:
    """Answer refusals, unknown paths and wrong methods in REX's ``{"message"}`` shape."""
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


async def _refused(request: Request, error: Exception) -> JSONResponse:
    refusal = cast(Refused, error)
    return JSONResponse(refusal.body, status_code=refusal.status)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    failure = cast(StarletteHTTPException, error)
    return JSONResponse({"message": str(failure.detail)}, status_code=failure.status_code)


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse(
        {"message": "internal server error"}, status_code=500, headers={"status": "NOT_AVAILABLE"}
    )


# --- JSON body readers -------------------------------------------------------------------------


def object_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(f"expected a JSON object, got {kind(body)}")
    return body


def integer(
    body: Mapping[str, Any],
    name: str,
    low: int,
    high: int | None = None,
    default: int | None = None,
) -> int:
    value = body.get(name)
    if value is None:
        if default is None:
            raise bad_request(f'"{name}" is required')
        return default
    span = f"{low}..{high}" if high is not None else f"at least {low}"
    if not is_int(value) or value < low or (high is not None and value > high):
        raise bad_request(f'"{name}" must be an integer {span}, not {shown(value)}')
    return value


def code(body: Mapping[str, Any], name: str) -> str:
    """A two-letter country or language code, as sent."""
    value = body.get(name)
    if not (isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha()):
        raise bad_request(f'"{name}" must be a two-letter code, not {shown(value)}')
    return value


def text(body: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    """A non-empty string field; None when absent and not ``required``."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f'"{name}" must be a non-empty string, not {shown(value)}')
    return value


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def shown(value: Any) -> str:
    """A value quoted in a message: JSON, cut short."""
    try:
        rendered = json.dumps(value)
    except (ValueError, RecursionError):
        rendered = kind(value)
    return rendered if len(rendered) <= 60 else rendered[:57] + "..."
