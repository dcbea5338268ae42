"""A publisher's callback endpoint (and landing pages) over real HTTP, for the money-path
tests: it records every request line as it arrived and can fail on purpose."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI, Request, Response

from tests.integration.test_server import serving


class Receiver:
    """A publisher's callback endpoint that fails the first ``failures`` calls."""

    def __init__(self) -> None:
        self.failures = 0
        self.received: list[str] = []
        self.app = FastAPI()

        @self.app.get("/{path:path}")
        def receive(request: Request) -> Response:
            # The request line as it arrived, behind the Host header: what a publisher's
            # verifier reads (frameworks' decoded paths would re-encode it their own way).
            raw_path = request.scope["raw_path"].decode("ascii")
            query = request.scope["query_string"].decode("ascii")
            self.received.append(f"http://{request.headers['host']}{raw_path}?{query}")
            if self.failures > 0:
                self.failures -= 1
                return Response("try later", status_code=503)
            return Response("ok")


@contextmanager
def receiving() -> Iterator[tuple[Receiver, str]]:
    """A running receiver and its base URL."""
    target = Receiver()
    with serving(target.app) as url:
        yield target, url
