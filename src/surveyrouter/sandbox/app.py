"""The sandbox exchange over HTTP: the Opportunity Registry (REX §2) and the Respondent Gateway
(§6) in one app, every path relative to the app's root.

Standalone (``surveyrouter sandbox``) the root is the server's; embedded, the app is mounted
under a prefix (``outer.mount("/sandbox/rex", app)``). Nothing here names an absolute path:
links the sandbox hands out start from ``exchange.options.base_url``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from surveyrouter.sandbox import gateway_api, registry_api
from surveyrouter.sandbox.exchange import SandboxExchange
from surveyrouter.sandbox.http import Verifier, install_refusals, serve_on
from surveyrouter.sandbox.pages import index_page
from surveyrouter.sandbox.registry import RegistryState

__all__ = ["create_registry_app", "create_sandbox_app"]


def create_sandbox_app(exchange: SandboxExchange) -> FastAPI:
    """The registry and the gateway of ``exchange``: API calls are checked against
    ``options.api_keys``; returns and callbacks are signed with ``options.redirect_keys``."""
    app = FastAPI(
        title="surveyrouter sandbox: REX Opportunity Registry and Respondent Gateway",
        docs_url=None,
        redoc_url=None,
    )
    serve_on(app, Verifier(exchange.options.api_keys, exchange.clock), exchange.registry, exchange)
    app.include_router(registry_api.router)
    app.include_router(gateway_api.router)
    install_refusals(app)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        options = exchange.options
        facts = [
            ("Base URL (registry and gateway)", options.base_url),
            ("Entry links", f"{options.base_url}/start"),
            ("API access key", ", ".join(options.api_keys)),
            ("Redirect access key", options.redirect_keys.access_key),
            ("Returns to", options.partner_return_url),
            ("Callbacks to", options.partner_callback_url or "(none)"),
            ("Market", "frozen" if exchange.simulation.frozen else "changing over time"),
        ]
        counts = Counter(str(d.get("status")) for d in exchange.registry.documents())
        return HTMLResponse(index_page(facts, dict(sorted(counts.items()))))

    return app


def create_registry_app(
    state: RegistryState, secrets: Mapping[str, str], clock: Callable[[], datetime]
) -> FastAPI:
    """The registry alone, for a registry state without a gateway (sync tests, benchmarks):
    ``secrets`` maps each partner's access key to its secret key; ``clock`` both checks
    signature expirations and drives the queues' visibility timeouts."""
    app = FastAPI(title="surveyrouter sandbox: REX Opportunity Registry", docs_url=None)
    serve_on(app, Verifier(secrets, clock), state)
    app.include_router(registry_api.router)
    install_refusals(app)
    return app
