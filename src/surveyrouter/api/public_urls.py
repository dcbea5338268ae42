"""The addresses a response sends users to (survey links, landing pages): under
``SURVEYROUTER_PUBLIC_URL`` when it is set, else under the address the request came to."""

from __future__ import annotations

from fastapi import Request

from surveyrouter.bootstrap import Runtime


def public_base_url(request: Request) -> str:
    """With a trailing slash. A configured public URL wins over the request's ``Host``: behind
    a proxy the request names the internal address, and a client may send any Host at all."""
    runtime: Runtime = request.app.state.runtime
    configured = runtime.settings.public_url
    if configured:
        return configured.rstrip("/") + "/"
    return str(request.base_url)


def public_url_for(request: Request, name: str) -> str:
    """The route ``name``'s URL under ``public_base_url``."""
    return public_base_url(request).rstrip("/") + str(request.app.url_path_for(name))
