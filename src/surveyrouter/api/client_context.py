"""Who, where and on what device a client call's user is (``domain.client_context``), with
the lookups it needs (``geo``) built once per app from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from surveyrouter.api.client_auth import (
    ApiTokenHeader,
    ApiTokenQuery,
    UserIdHeader,
    UserIdQuery,
    authenticate,
)
from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.bootstrap import Runtime
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
from surveyrouter.services.callers import Caller
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


Text = Annotated[str | None, Query(max_length=512)]


def request_ip(request: Request) -> str | None:
    """The address the request came from: the peer, or the first hop before the trusted
    proxies (``SURVEYROUTER_TRUSTED_PROXIES``) in ``X-Forwarded-For``."""
    geo: GeoLookups = request.app.state.geo
    return resolve_client_ip(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        geo.trusted_proxies,
    )


def client_request(
    request: Request,
    runtime: RuntimeDep,
    x_api_token: ApiTokenHeader = None,
    x_user_id: UserIdHeader = None,
    token: ApiTokenQuery = None,
    uid: UserIdQuery = None,
    platform: Text = None,
    os: Text = None,
    sdk: Text = None,
    lang: Text = None,
    client_country: Text = None,
    client_ip: Text = None,
    client_useragent: Text = None,
) -> ClientRequest:
    """The caller and their resolved context; what changed about the user is remembered.
    An unknown ``platform``/``os``/``sdk`` or a malformed override is 400 naming it."""
    caller = authenticate(request, runtime, x_api_token, x_user_id, token, uid)
    parameters = ClientParameters(
        ip=request_ip(request),
        user_agent=request.headers.get("user-agent"),
        accept_language=request.headers.get("accept-language"),
        lang=lang,
        platform=platform,
        os=os,
        sdk=sdk,
        client_country=client_country,
        client_ip=client_ip,
        client_useragent=client_useragent,
    )
    return _in_context(request, caller, runtime, parameters)


def caller_request(request: Request, caller: Caller, runtime: Runtime) -> ClientRequest:
    """``client_request`` for a caller known otherwise (a signed survey link or impression
    names them), in the context the request itself shows: no query overrides."""
    parameters = ClientParameters(
        ip=request_ip(request),
        user_agent=request.headers.get("user-agent"),
        accept_language=request.headers.get("accept-language"),
    )
    return _in_context(request, caller, runtime, parameters)


def _in_context(
    request: Request, caller: Caller, runtime: Runtime, parameters: ClientParameters
) -> ClientRequest:
    with stage("context"):
        geo: GeoLookups = request.app.state.geo
        user = caller.user
        try:
            context = resolve_client_context(
                parameters,
                app=caller.app,
                stored_country=user.country,
                country_languages=load_country_languages(),
                country_of_ip=geo.countries.country_of,
                is_anonymous_ip=geo.anonymous.is_anonymous,
            )
        except InvalidClientParameter as error:
            raise HTTPException(400, f"{error.field}: {error.message}") from error
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


ClientRequestDep = Annotated[ClientRequest, Depends(client_request)]


def unrestricted_request(call: ClientRequestDep) -> ClientRequest:
    """``client_request`` for the user endpoints other than Get Actions: a user behind a VPN
    or other anonymous IP is refused with 406 (client API §3.8), as BitLabs does."""
    if call.context.anonymous_ip:
        raise HTTPException(406, "vpn detected")
    return call


UnrestrictedRequestDep = Annotated[ClientRequest, Depends(unrestricted_request)]
