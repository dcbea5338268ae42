"""Who, where and on what device a client call's user is (``domain.client_context``), with
the lookups it needs (``geo``) built once per app from the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from surveyrouter.api.client_auth import authenticate
from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.domain.client_context import (
    ClientContext,
    ClientParameters,
    InvalidClientParameter,
    resolve_client_context,
)
from surveyrouter.geo import (
    AnonymousIpDetector,
    CidrSet,
    CountryLocator,
    load_country_languages,
    resolve_client_ip,
)
from surveyrouter.services.callers import Caller, Identified, on_sight
from surveyrouter.settings import Settings
from surveyrouter.stage_timing import stage
from surveyrouter.store.db import transaction
from surveyrouter.store.users import remember_context


@dataclass(frozen=True, slots=True)
class GeoLookups:
    countries: CountryLocator
    anonymous: AnonymousIpDetector
    trusted_proxies: CidrSet

    @classmethod
    def from_settings(cls, settings: Settings) -> GeoLookups:
        """Raises ``geo.GeoDataError`` naming a configured file that cannot be read: better
        at start-up than every user sent to the app's default country."""
        return cls(
            CountryLocator(settings.geoip_country_db),
            AnonymousIpDetector(settings.anonymous_ip_cidr_files, settings.anonymous_ip_db),
            CidrSet.from_strings(settings.trusted_proxies, source="SURVEYROUTER_TRUSTED_PROXIES"),
        )

    def close(self) -> None:
        self.countries.close()
        self.anonymous.close()


@dataclass(frozen=True, slots=True)
class ClientRequest:
    caller: Caller
    context: ClientContext


Text = Annotated[str | None, Field(max_length=512)]


class ClientQuery(BaseModel):
    """The query parameters every client call may carry (client API §1.2 and §2.1)."""

    model_config = ConfigDict(frozen=True)

    token: str | None = Field(None, description="API token, if not in X-Api-Token.")
    uid: str | None = Field(None, description="User id, if not in X-User-Id.")
    platform: Text = None
    os: Text = None
    sdk: Text = None
    lang: Text = None
    client_country: Text = None
    client_ip: Text = None
    client_useragent: Text = None


@dataclass(frozen=True, slots=True)
class ClientCall:
    """A client call as sent, before anything is looked up: ``resolve_client_call`` (or
    ``resolve_unrestricted``) resolves it, in the route."""

    request: Request
    runtime: Runtime
    api_token: str | None  # X-Api-Token, else ?token=
    uid: str | None  # X-User-Id, else ?uid=
    query: ClientQuery


async def client_call(request: Request) -> ClientCall:
    """The call's parameters, read from the request in one validation (a malformed one is
    422 as FastAPI answers it). Not FastAPI parameters: its extraction, field by field, cost
    a tenth of a Get Actions call. ``ClientRoute`` puts them in the OpenAPI document."""
    try:
        query = ClientQuery.model_validate(request.query_params)
    except ValidationError as error:
        problems = [{**problem, "loc": ("query", *problem["loc"])} for problem in error.errors()]
        raise RequestValidationError(problems) from None
    headers = request.headers
    api_token = headers.get("x-api-token")
    uid = headers.get("x-user-id")
    return ClientCall(
        request=request,
        runtime=request.app.state.runtime,
        api_token=api_token if api_token is not None else query.token,
        uid=uid if uid is not None else query.uid,
        query=query,
    )


ClientCallDep = Annotated[ClientCall, Depends(client_call)]


def resolve_client_call(call: ClientCall, identified: Identified | None = None) -> ClientRequest:
    """The caller (``identified`` when already authenticated) and their resolved context;
    what changed about the user is remembered. An unknown ``platform``/``os``/``sdk`` or a
    malformed override is 400 naming it. Blocking (it reads the store): routes call it in
    their worker thread."""
    request, query = call.request, call.query
    if identified is None:
        identified = authenticate(request, call.runtime, call.api_token, call.uid)
    parameters = ClientParameters(
        ip=request_ip(request),
        user_agent=request.headers.get("user-agent"),
        accept_language=request.headers.get("accept-language"),
        lang=query.lang,
        platform=query.platform,
        os=query.os,
        sdk=query.sdk,
        client_country=query.client_country,
        client_ip=query.client_ip,
        client_useragent=query.client_useragent,
    )
    return _in_context(request, identified, call.runtime, parameters)


def request_ip(request: Request) -> str | None:
    """The address the request came from: the peer, or the first hop before the trusted
    proxies (``SURVEYROUTER_TRUSTED_PROXIES``) in ``X-Forwarded-For``."""
    geo: GeoLookups = request.app.state.geo
    return resolve_client_ip(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        geo.trusted_proxies,
    )


def _openapi_parameters() -> list[dict[str, Any]]:
    schema = ClientQuery.model_json_schema()["properties"]
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {key: value for key, value in schema[name].items() if key != "description"},
            **({"description": field.description} if field.description else {}),
        }
        for name, field in ClientQuery.model_fields.items()
    ]


class ClientRoute(APIRoute):
    """A route whose OpenAPI operation lists ``ClientQuery``'s fields when it reads them
    through ``client_call``: FastAPI cannot see them. The route class of every router that
    serves client calls."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if _depends_on(self.dependant, client_call):
            extra = dict(self.openapi_extra or {})
            extra["parameters"] = [*extra.get("parameters", []), *_openapi_parameters()]
            self.openapi_extra = extra


def _depends_on(dependant: Dependant, call: Any) -> bool:
    return any(sub.call is call or _depends_on(sub, call) for sub in dependant.dependencies)


def caller_request(request: Request, caller: Caller, runtime: Runtime) -> ClientRequest:
    """``resolve_client_call`` for a caller known otherwise (a signed survey link or impression
    names them), in the context the request itself shows: no query overrides."""
    parameters = ClientParameters(
        ip=request_ip(request),
        user_agent=request.headers.get("user-agent"),
        accept_language=request.headers.get("accept-language"),
    )
    return _in_context(
        request, Identified(caller.app, caller.user.uid, caller.user), runtime, parameters
    )


def _in_context(
    request: Request, identified: Identified, runtime: Runtime, parameters: ClientParameters
) -> ClientRequest:
    """The call's context; then, the call found valid, the user created if new and what
    changed about them remembered (a refused parameter writes nothing)."""
    with stage("context"):
        geo: GeoLookups = request.app.state.geo
        known = identified.user
        try:
            context = resolve_client_context(
                parameters,
                app=identified.app,
                stored_country=None if known is None else known.country,
                country_languages=load_country_languages(),
                country_of_ip=geo.countries.country_of,
                is_anonymous_ip=geo.anonymous.is_anonymous,
            )
        except InvalidClientParameter as error:
            raise HTTPException(400, f"{error.field}: {error.message}") from error
        caller = on_sight(runtime.sessions, identified, utc_now)
        user = caller.user
        if (context.country, context.language, context.device) != (
            user.country,
            user.language,
            user.device,
        ):
            with transaction(runtime.sessions) as session:
                remember_context(
                    session,
                    user.id,
                    datetime.now(UTC),
                    country=context.country,
                    language=context.language,
                    device=context.device,
                )
        return ClientRequest(caller, context)


def unrestricted_request(call: ClientRequest) -> ClientRequest:
    """``call``, unless the user is behind a VPN or other anonymous IP: the user endpoints
    other than Get Actions refuse them with 406 (client API §3.8), as BitLabs does."""
    if call.context.anonymous_ip:
        raise HTTPException(406, "vpn detected")
    return call


@dataclass(frozen=True, slots=True)
class AuthenticatedCall:
    """A client call whose app and user are known, before anything is written."""

    call: ClientCall
    identified: Identified


def authenticated_call(call: ClientCallDep) -> AuthenticatedCall:
    """The call's app and user, read only: 401 (or 400 for a bad uid) comes before FastAPI
    validates the route's own parameters and body. Sync: FastAPI runs it in a worker thread."""
    identified = authenticate(call.request, call.runtime, call.api_token, call.uid)
    return AuthenticatedCall(call, identified)


AuthenticatedCallDep = Annotated[AuthenticatedCall, Depends(authenticated_call)]


def resolve_unrestricted(authenticated: AuthenticatedCall) -> ClientRequest:
    """The rest of ``resolve_client_call``, then ``unrestricted_request``: what a user
    endpoint other than Get Actions calls first. In the route, not as a dependency: FastAPI
    runs dependencies before it validates the route's own parameters and body, and a call
    refused for those would already have created a new user and remembered their context."""
    call = resolve_client_call(authenticated.call, authenticated.identified)
    return unrestricted_request(call)
