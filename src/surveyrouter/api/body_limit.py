"""Request bodies past a size are refused with 413 in the envelope, before anyone parses them.

Every body the API takes is small (an answer is at most 100 values of 1,000 characters; the
sandbox's largest call a few kilobytes), so a bigger one is a mistake or an attack, and parsing
it first would cost the memory the limit is there to save. A declared ``Content-Length`` over
the limit is refused at once; a chunked body is counted as it arrives.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from surveyrouter.api.envelope import error_body
from surveyrouter.api.observability import TRACE_ID_SCOPE_KEY

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` as the body passes the limit. An ``HTTPException``, so a route
    reading the body answers 413 in the envelope (FastAPI would turn anything else into a 400
    "error parsing the body")."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _message(max_bytes))


class BodyLimit:
    """ASGI middleware: at most ``max_bytes`` of request body."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        trace_id = scope.get(TRACE_ID_SCOPE_KEY)
        body = json.dumps(error_body(413, _message(self.max_bytes), trace_id)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body of a route that takes less than the app-wide limit, refused with 413 once
    it passes ``max_bytes``, declared or streamed, as ``BodyLimit`` refuses the rest."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise BodyTooLarge(max_bytes)
    return bytes(body)


def _message(max_bytes: int) -> str:
    return f"the request body is larger than {max_bytes} bytes"
