"""Publisher server-to-server authentication (client API §1.2): the app's ``X-S2S-Token``.

The S2S token opens every user of the app, so it is never taken from a query string (it would
end up in access logs) and the client API token, which ships inside the publisher's apps, is
refused here with a message that says so.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException

from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.domain.apps import App
from surveyrouter.services.publishers import UnknownS2sToken, publisher_app


def publisher_caller(
    runtime: RuntimeDep,
    x_s2s_token: Annotated[
        str | None, Header(description="The app's server-to-server token.")
    ] = None,
) -> App:
    """The app this S2S call is for; 401 in the envelope when the token is missing, is the
    app's client API token, or is no app's."""
    if not x_s2s_token:
        raise HTTPException(401, "missing s2s token: send X-S2S-Token")
    try:
        return publisher_app(runtime.sessions, x_s2s_token)
    except UnknownS2sToken as error:
        raise HTTPException(401, str(error)) from error


PublisherApp = Annotated[App, Depends(publisher_caller)]
