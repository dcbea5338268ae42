"""Where a publisher's user is, what they read and what they hold, for one client API call.

Every client call resolves its user's country, language and device, and none is ever left
unknown: each falls back step by step to something the app or the request itself provides.
The rules take facts already looked up (an IP's country, an IP's anonymity, the table of
countries' main languages) as parameters, so they stay pure; the lookups live in
``surveyrouter.geo``.

Country: ``client_country`` (only for apps allowed to override, client API §2.1) → the user's
stored country → the country of the user's IP → the app's default country.
Language: ``lang`` → ``Accept-Language`` → the country's main language.
Device: ``platform`` / ``os`` query → the User-Agent → desktop.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TypeVar

from surveyrouter.domain.apps import App
from surveyrouter.domain.opportunity import Device

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_E = TypeVar("_E", bound=enum.Enum)

#: The language of last resort, for a country missing from the main-language table.
FALLBACK_LANGUAGE = "en"


class Platform(enum.Enum):
    """Client API §2.0 ``platform`` (deprecated by BitLabs, still sent by every SDK)."""

    MOBILE = "MOBILE"
    TABLET = "TABLET"
    WEB = "WEB"


class OperatingSystem(enum.Enum):
    """Client API §2.0 ``os``."""

    ANDROID = "ANDROID"
    IOS = "IOS"
    DESKTOP = "DESKTOP"


class Sdk(enum.Enum):
    """Client API §2.0 ``sdk``: which integration is calling."""

    CUSTOM = "CUSTOM"
    IFRAME = "IFRAME"
    TAB = "TAB"
    NATIVE = "NATIVE"
    UNITY = "UNITY"
    REACT = "REACT"
    FLUTTER = "FLUTTER"


class CountrySource(enum.Enum):
    """Which rule decided the country, so a caller can tell a guess from a fact."""

    CLIENT_OVERRIDE = "client_override"
    STORED = "stored"
    IP = "ip"
    APP_DEFAULT = "app_default"


class InvalidClientParameter(ValueError):
    """A client parameter the API cannot accept; ``field`` names it as the client spelled it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class ClientParameters:
    """What one client call says about its user, as it arrived (strings not yet checked).

    ``ip`` is the caller's address after the trusted-proxy rules (``geo.resolve_client_ip``);
    the ``client_*`` fields are a publisher backend speaking for its user (§2.1).
    """

    ip: str | None = None
    user_agent: str | None = None
    accept_language: str | None = None
    lang: str | None = None
    platform: str | None = None
    os: str | None = None
    sdk: str | None = None
    client_country: str | None = None
    client_ip: str | None = None
    client_useragent: str | None = None


@dataclass(frozen=True, slots=True)
class ClientContext:
    """Who is calling, resolved: ``country`` (ISO 3166-1 alpha-2), ``language`` (ISO 639-1)
    and ``device`` are always known; ``ip`` and ``user_agent`` are the user's own (the
    ``client_*`` values when a backend speaks for them); ``anonymous_ip`` is §3.8's
    ``using_vpn``."""

    country: str
    language: str
    device: Device
    country_source: CountrySource
    ip: str | None = None
    user_agent: str | None = None
    sdk: Sdk | None = None
    platform: Platform | None = None
    os: OperatingSystem | None = None
    anonymous_ip: bool = False


def resolve_client_context(
    parameters: ClientParameters,
    *,
    app: App,
    stored_country: str | None,
    country_languages: Mapping[str, str],
    country_of_ip: Callable[[str], str | None],
    is_anonymous_ip: Callable[[str], bool] = lambda ip: False,
    supported_languages: AbstractSet[str] = frozenset(),
) -> ClientContext:
    """The user's context for one call, by the rules in this module's docstring.

    ``country_languages`` maps every known country to its main language and is also the list
    of countries accepted from a client or an IP database. ``supported_languages`` (empty:
    any) steers the pick among the languages Accept-Language offers. Raises
    ``InvalidClientParameter`` for an unknown enum value, a malformed ``lang`` or an
    incomplete or malformed set of ``client_*`` parameters.
    """
    platform = parse_enum(Platform, "platform", parameters.platform)
    os = parse_enum(OperatingSystem, "os", parameters.os)
    sdk = parse_enum(Sdk, "sdk", parameters.sdk)
    requested_language = parse_language_parameter(parameters.lang)
    override = _client_override(parameters, app.client_overrides_allowed, country_languages)

    override_country: str | None = None
    ip: str | None = None
    user_agent: str | None = parameters.user_agent or None
    if override is not None:
        override_country, ip, user_agent = override
    elif parameters.ip and (address := parse_ip(parameters.ip)) is not None:
        ip = str(address)

    country, source = resolve_country(
        override_country=override_country,
        stored_country=stored_country,
        ip_country=country_of_ip(ip) if ip is not None else None,
        default_country=app.default_country,
        known_countries=country_languages.keys(),
    )
    language = (
        requested_language
        or pick_accept_language(parameters.accept_language, supported_languages)
        or country_languages.get(country, FALLBACK_LANGUAGE)
    )
    return ClientContext(
        country=country,
        language=language,
        device=resolve_device(platform, os, user_agent),
        country_source=source,
        ip=ip,
        user_agent=user_agent,
        sdk=sdk,
        platform=platform,
        os=os,
        anonymous_ip=is_anonymous_ip(ip) if ip is not None else False,
    )


def resolve_country(
    *,
    override_country: str | None,
    stored_country: str | None,
    ip_country: str | None,
    default_country: str,
    known_countries: AbstractSet[str],
) -> tuple[str, CountrySource]:
    """The first known country of override, stored, IP and app default, and which one it was.

    An IP database may answer with a code that is no country (RIR blocks marked ``EU`` or
    ``AP``); such an answer counts as no answer.
    """
    if override_country is not None:
        return override_country, CountrySource.CLIENT_OVERRIDE
    if stored_country is not None and stored_country.upper() in known_countries:
        return stored_country.upper(), CountrySource.STORED
    if ip_country is not None and ip_country.upper() in known_countries:
        return ip_country.upper(), CountrySource.IP
    return default_country, CountrySource.APP_DEFAULT


def parse_enum(kind: type[_E], field: str, value: str | None) -> _E | None:
    """``value`` as a member of ``kind``, case-insensitively (§2.0: iOS sends ``os=ios``);
    None when absent or blank; ``InvalidClientParameter`` naming ``field`` when unknown."""
    if value is None or not value.strip():
        return None
    try:
        return kind(value.strip().upper())
    except ValueError:
        allowed = ", ".join(str(member.value) for member in kind)
        raise InvalidClientParameter(field, f"{value!r} is not one of {allowed}") from None


# --- language -----------------------------------------------------------------------------

# Deprecated ISO 639 codes that old Java/Android Locale still reports (iw, in, ji), and the
# Norwegian written standards folded into the macrolanguage code our country table uses.
_LANGUAGE_ALIASES = {
    "iw": "he",
    "in": "id",
    "ji": "yi",
    "jw": "jv",
    "mo": "ro",
    "nb": "no",
    "nn": "no",
}
_LANGUAGE_TAG = re.compile(r"([A-Za-z]{2})(?:[-_][A-Za-z0-9]{1,8})*")
_QUALITY = re.compile(r"q=(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)", re.IGNORECASE)
# A browser sends a handful; anything past this is noise or an attack on our parser.
_MAX_ACCEPT_LANGUAGE_ENTRIES = 32


def parse_language_parameter(value: str | None) -> str | None:
    """The 2-letter language of a ``lang`` parameter (``de``, ``DE``, ``de-AT``); None when
    absent; ``InvalidClientParameter`` when it is not a language tag with a 2-letter code."""
    if value is None or not value.strip():
        return None
    match = _LANGUAGE_TAG.fullmatch(value.strip())
    if match is None:
        raise InvalidClientParameter("lang", f"{value!r} is not a 2-letter language code")
    return _canonical_language(match.group(1))


def parse_accept_language(header: str | None) -> list[tuple[str, float]]:
    """The 2-letter languages an Accept-Language header offers, best first, with their q.

    ``de-AT`` counts as ``de``; a language listed twice keeps its best q; equal q keep the
    header's order (RFC 9110 §12.5.4). ``*``, 3-letter codes, malformed entries and q=0 are
    left out, as is everything past the first 32 entries.
    """
    if not header:
        return []
    best: dict[str, float] = {}
    order: dict[str, int] = {}
    for position, entry in enumerate(header.split(",")[:_MAX_ACCEPT_LANGUAGE_ENTRIES]):
        tag, *params = (part.strip() for part in entry.split(";"))
        match = _LANGUAGE_TAG.fullmatch(tag)
        if match is None:
            continue
        quality = 1.0
        for param in params:
            if param[:2].lower() == "q=":
                q_match = _QUALITY.fullmatch(param)
                quality = float(q_match.group(1)) if q_match else 0.0
        if quality <= 0:
            continue
        language = _canonical_language(match.group(1))
        if quality > best.get(language, 0.0):
            best[language] = quality
        order.setdefault(language, position)
    return sorted(best.items(), key=lambda item: (-item[1], order[item[0]]))


def pick_accept_language(
    header: str | None, supported: AbstractSet[str] = frozenset()
) -> str | None:
    """The best language of an Accept-Language header that is ``supported`` (empty: any),
    else its best language at all; None when it offers none."""
    offered = [language for language, _ in parse_accept_language(header)]
    for language in offered:
        if language in supported:
            return language
    return offered[0] if offered else None


def _canonical_language(code: str) -> str:
    code = code.lower()
    return _LANGUAGE_ALIASES.get(code, code)


# --- device -------------------------------------------------------------------------------

# Client API §1.2: "BitLabs/<v> (Android <SDK_INT>; <Build.MODEL>; phone|tablet)" and
# "BitLabs/<v> (iOS <version>; <machine id>; Phone|Tablet)". A model name may hold anything
# but the closing form factor, so only the last field is read.
_BITLABS_SDK = re.compile(
    r"BitLabs/\S+\s*\(\s*(?:Android|iOS)\b.*;\s*(?P<form>phone|tablet)\s*\)", re.IGNORECASE
)
_BITLABS_APP = re.compile(r"BitLabs/\S+\s*\(\s*(?:Android|iOS)\b", re.IGNORECASE)
# "Tablet PC" is a Windows XP desktop marker, not a tablet.
_TABLET = re.compile(r"iPad|\bTablet\b(?! PC)|Kindle|Silk/|PlayBook", re.IGNORECASE)
# "Mobi" is the marker browsers agree on (MDN's advice for UA sniffing); the rest are phones
# whose UA lacks it.
_MOBILE = re.compile(
    r"Mobi|iPhone|iPod|Opera Mini|BlackBerry|\bBB10\b|Windows Phone|Symbian|\bJ2ME\b",
    re.IGNORECASE,
)
# Android TV boxes and smart TVs say Android without Mobile; a TV is no tablet.
_TELEVISION = re.compile(r"\bTV\b|SMART-TV|SmartTV|GoogleTV|\bAFT[A-Z]+\b|BRAVIA|CrKey")


def device_from_user_agent(user_agent: str | None) -> Device | None:
    """The device a User-Agent reveals, or None when it reveals none (an HTTP library's UA).

    A BitLabs SDK says its form factor outright; a browser is a tablet on iPad and on Android
    without "Mobile", a phone on iPhone or with "Mobile", else a desktop. iPadOS Safari asks
    for desktop pages with a Macintosh UA and is seen as the desktop it claims to be.
    """
    if not user_agent:
        return None
    sdk = _BITLABS_SDK.search(user_agent)
    if sdk is not None:
        return Device.TABLET if sdk.group("form").lower() == "tablet" else Device.MOBILE
    if _BITLABS_APP.search(user_agent):
        return Device.MOBILE
    if _TABLET.search(user_agent):
        return Device.TABLET
    if _MOBILE.search(user_agent):
        return Device.MOBILE
    if "Android" in user_agent:
        return Device.DESKTOP if _TELEVISION.search(user_agent) else Device.TABLET
    if _looks_like_browser(user_agent):
        return Device.DESKTOP
    return None


def resolve_device(
    platform: Platform | None, os: OperatingSystem | None, user_agent: str | None
) -> Device:
    """The device from the query (§2.0 enums), else the User-Agent, else desktop.

    The Android SDK sends ``platform=MOBILE&os=ANDROID`` on every device (§2.0) while its
    User-Agent says ``phone`` or ``tablet`` (§1.2), so a query that only says "mobile" yields
    to a User-Agent that says tablet.
    """
    from_user_agent = device_from_user_agent(user_agent)
    if platform is Platform.TABLET:
        return Device.TABLET
    if platform is Platform.MOBILE or os in (OperatingSystem.ANDROID, OperatingSystem.IOS):
        return Device.TABLET if from_user_agent is Device.TABLET else Device.MOBILE
    if platform is Platform.WEB or os is OperatingSystem.DESKTOP:
        return Device.DESKTOP
    return from_user_agent or Device.DESKTOP


def _looks_like_browser(user_agent: str) -> bool:
    return user_agent.startswith(("Mozilla/", "Opera/"))


# --- addresses and overrides --------------------------------------------------------------


def parse_ip(text: str) -> IpAddress | None:
    """``text`` as an IP address, IPv4-mapped IPv6 (``::ffff:1.2.3.4``, a dual-stack socket's
    view of an IPv4 peer) unwrapped to IPv4; None when it is none."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_CLIENT_FIELDS = ("client_country", "client_ip", "client_useragent")


def _client_override(
    parameters: ClientParameters, allowed: bool, known_countries: Mapping[str, str]
) -> tuple[str, str, str] | None:
    """(country, ip, user agent) a backend gave for its user, or None when it gave none or
    the app may not override (then the parameters are ignored, as a browser could send them)."""
    given = {
        name: value.strip()
        for name in _CLIENT_FIELDS
        if (value := getattr(parameters, name)) is not None and value.strip()
    }
    if not given or not allowed:
        return None
    for name in _CLIENT_FIELDS:
        if name not in given:
            # §2.1: "If set, all other client_ parameters must be set as well."
            others = ", ".join(sorted(given))
            raise InvalidClientParameter(name, f"is required together with {others}")
    country = given["client_country"].upper()
    if country not in known_countries:
        raise InvalidClientParameter(
            "client_country", f"{given['client_country']!r} is not an ISO 3166-1 alpha-2 code"
        )
    address = parse_ip(given["client_ip"])
    if address is None:
        raise InvalidClientParameter(
            "client_ip", f"{given['client_ip']!r} is not an IPv4 or IPv6 address"
        )
    return country, str(address), given["client_useragent"]
