"""A client call's user always gets a country, a language and a device, by the rules in
``domain/client_context.py``; bad enum values and incomplete overrides name their field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveyrouter.domain.apps import App
from surveyrouter.domain.client_context import (
    ClientContext,
    ClientParameters,
    CountrySource,
    InvalidClientParameter,
    OperatingSystem,
    Platform,
    Sdk,
    device_from_user_agent,
    parse_accept_language,
    parse_enum,
    pick_accept_language,
    resolve_client_context,
    resolve_device,
)
from surveyrouter.domain.opportunity import Device

TOKENS = {"api_token": "a" * 36, "secret": "s" * 32, "s2s_token": "t" * 32}
COUNTRY_LANGUAGES = {"US": "en", "DE": "de", "AT": "de", "FR": "fr", "BR": "pt", "GB": "en"}
IP_COUNTRIES = {"8.8.8.8": "US", "193.99.144.80": "DE", "2001:4860:4860::8888": "US"}

# User-Agents in the form the BitLabs SDKs build them (client API §1.2).
ANDROID_SDK_PHONE = "BitLabs/4.0.2 (Android 34; Pixel 8 Pro; phone)"
ANDROID_SDK_TABLET = "BitLabs/4.0.2 (Android 33; SM-X710; tablet)"
IOS_SDK_PHONE = "BitLabs/4.1.0 (iOS 17.4; iPhone15,2; Phone)"
IOS_SDK_TABLET = "BitLabs/4.1.0 (iOS 17.4; iPad13,16; Tablet)"

CHROME_ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/12.1 Mobile/15E148 Safari/604.1"
)
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def make_app(**changes: Any) -> App:
    return App(**{"name": "Quiz Kingdom", **TOKENS, **changes})


def resolve(
    *,
    app: App | None = None,
    stored_country: str | None = None,
    anonymous: frozenset[str] = frozenset(),
    supported_languages: frozenset[str] = frozenset(),
    **parameters: Any,
) -> ClientContext:
    return resolve_client_context(
        ClientParameters(**parameters),
        app=app or make_app(),
        stored_country=stored_country,
        country_languages=COUNTRY_LANGUAGES,
        country_of_ip=IP_COUNTRIES.get,
        is_anonymous_ip=anonymous.__contains__,
        supported_languages=supported_languages,
    )


# --- device from the User-Agent -------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (ANDROID_SDK_PHONE, Device.MOBILE),
        (ANDROID_SDK_TABLET, Device.TABLET),
        (IOS_SDK_PHONE, Device.MOBILE),
        (IOS_SDK_TABLET, Device.TABLET),
        # A model name with spaces and parentheses does not hide the form factor.
        ("BitLabs/3.2.1 (Android 30; Galaxy Tab S7 (Wi-Fi); tablet)", Device.TABLET),
        # An SDK UA without the form factor is still an app on a phone or tablet OS.
        ("BitLabs/3.0.0 (Android 29; Pixel 4)", Device.MOBILE),
    ],
)
def test_bitlabs_sdk_user_agents_say_their_form_factor(user_agent: str, device: Device) -> None:
    assert device_from_user_agent(user_agent) is device


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (CHROME_ANDROID_PHONE, Device.MOBILE),
        (CHROME_ANDROID_TABLET, Device.TABLET),
        (
            "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) "
            "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 "
            "Mobile Safari/537.36",
            Device.MOBILE,  # Android WebView, as an app's offerwall opens it
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/23.0 Chrome/115.0.0.0 Safari/537.36",
            Device.TABLET,  # Samsung Internet on a Galaxy Tab S8
        ),
        ("Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0", Device.MOBILE),
        ("Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0", Device.TABLET),
        (SAFARI_IPHONE, Device.MOBILE),
        (SAFARI_IPAD, Device.TABLET),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
            Device.TABLET,  # Chrome on iPad
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/15E148",
            Device.MOBILE,  # WKWebView inside an app
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/21E236 [FBAN/FBIOS;FBAV/460.0.0.38.109;FBBV/591187925;"
            "FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.4.1;FBSS/3;FBID/phone;FBLC/de_DE;"
            "FBOP/5;FBRV/593386003]",
            Device.MOBILE,  # Facebook's in-app browser
        ),
        (
            "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Silk/124.2.1 like Chrome/124.0.6367.179 Safari/537.36",
            Device.TABLET,  # Amazon Fire HD 8
        ),
        (
            "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) "
            "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 "
            "Edge/15.15063",
            Device.MOBILE,
        ),
        (
            "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) "
            "Presto/2.5.25 Version/10.54",
            Device.MOBILE,
        ),
        (CHROME_WINDOWS, Device.DESKTOP),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
            Device.DESKTOP,  # also iPadOS Safari asking for the desktop site: it says Mac
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", Device.DESKTOP),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36",
            Device.DESKTOP,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
            Device.DESKTOP,
        ),
        (
            "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; WOW64; Trident/4.0; SLCC2; "
            ".NET CLR 2.0.50727; Tablet PC 2.0)",
            Device.DESKTOP,  # "Tablet PC" marks a Windows desktop, not a tablet
        ),
        (
            "Mozilla/5.0 (Linux; Android 9; BRAVIA 4K UR2 Build/PTT1.190515.001.S52) "
            "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.101 Safari/537.36",
            Device.DESKTOP,  # an Android TV is no tablet
        ),
    ],
)
def test_browser_user_agents_are_classified(user_agent: str, device: Device) -> None:
    assert device_from_user_agent(user_agent) is device


@pytest.mark.parametrize(
    "user_agent",
    [
        None,
        "",
        "okhttp/4.12.0",
        "Dart/3.3 (dart:io)",
        "QuizKingdom/1.0 CFNetwork/1494.0.7 Darwin/23.4.0",
        "python-httpx/0.28.1",
    ],
)
def test_http_library_user_agents_reveal_no_device_and_resolve_to_desktop(
    user_agent: str | None,
) -> None:
    assert device_from_user_agent(user_agent) is None
    assert resolve_device(None, None, user_agent) is Device.DESKTOP


# --- device from the query ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["MOBILE", "mobile", "Mobile", " mobile "])
def test_platform_is_read_case_insensitively(value: str) -> None:
    assert parse_enum(Platform, "platform", value) is Platform.MOBILE


def test_ios_sdk_lower_case_os_is_accepted() -> None:
    # §2.0: the iOS SDK sends os=ios; RN and Flutter sent Platform.OS ("android").
    assert resolve(os="ios").os is OperatingSystem.IOS
    assert resolve(os="android").os is OperatingSystem.ANDROID
    assert resolve(sdk="flutter").sdk is Sdk.FLUTTER


@pytest.mark.parametrize(
    ("field", "value"),
    [("platform", "PHONE"), ("os", "windows"), ("os", "web"), ("sdk", "KOTLIN")],
)
def test_unknown_enum_value_names_its_field(field: str, value: str) -> None:
    parameters: dict[str, Any] = {field: value}
    with pytest.raises(InvalidClientParameter) as raised:
        resolve(**parameters)
    assert raised.value.field == field
    assert value in raised.value.message


def test_blank_enum_values_count_as_absent() -> None:
    context = resolve(platform="", os=" ", sdk="")
    assert (context.platform, context.os, context.sdk) == (None, None, None)


@pytest.mark.parametrize(
    ("platform", "os", "user_agent", "device"),
    [
        (Platform.TABLET, None, CHROME_WINDOWS, Device.TABLET),
        (Platform.MOBILE, None, CHROME_WINDOWS, Device.MOBILE),
        (Platform.WEB, None, CHROME_WINDOWS, Device.DESKTOP),
        (None, OperatingSystem.IOS, None, Device.MOBILE),
        (None, OperatingSystem.ANDROID, None, Device.MOBILE),
        (Platform.TABLET, OperatingSystem.ANDROID, None, Device.TABLET),
        (None, OperatingSystem.DESKTOP, SAFARI_IPHONE, Device.DESKTOP),
        (None, None, SAFARI_IPAD, Device.TABLET),
        (None, None, None, Device.DESKTOP),
    ],
)
def test_query_decides_the_device_before_the_user_agent(
    platform: Platform | None, os: OperatingSystem | None, user_agent: str | None, device: Device
) -> None:
    assert resolve_device(platform, os, user_agent) is device


def test_android_sdk_tablet_is_a_tablet_although_it_sends_platform_mobile() -> None:
    # §2.0: Android hardcodes platform=MOBILE&os=ANDROID; §1.2: its UA says phone|tablet.
    tablet = resolve(platform="MOBILE", os="ANDROID", sdk="NATIVE", user_agent=ANDROID_SDK_TABLET)
    phone = resolve(platform="MOBILE", os="ANDROID", sdk="NATIVE", user_agent=ANDROID_SDK_PHONE)
    assert tablet.device is Device.TABLET
    assert phone.device is Device.MOBILE


def test_ios_sdk_on_ipad_is_a_tablet() -> None:
    context = resolve(platform="TABLET", os="ios", sdk="NATIVE", user_agent=IOS_SDK_TABLET)
    assert context.device is Device.TABLET


# --- country --------------------------------------------------------------------------------


def test_country_comes_from_the_ip_when_nothing_else_says() -> None:
    context = resolve(ip="193.99.144.80")
    assert (context.country, context.country_source) == ("DE", CountrySource.IP)


def test_stored_country_wins_over_the_ip() -> None:
    context = resolve(stored_country="AT", ip="193.99.144.80")
    assert (context.country, context.country_source) == ("AT", CountrySource.STORED)


@pytest.mark.parametrize("ip", [None, "10.0.0.7", "not an address", "203.0.113.9"])
def test_app_default_country_when_the_ip_tells_nothing(ip: str | None) -> None:
    context = resolve(app=make_app(default_country="BR"), ip=ip)
    assert (context.country, context.country_source) == ("BR", CountrySource.APP_DEFAULT)
    assert context.language == "pt"


def test_an_ip_database_answer_that_is_no_country_is_ignored() -> None:
    # RIR data marks some blocks "EU" or "AP": regions, not countries.
    context = resolve_client_context(
        ClientParameters(ip="192.0.2.1"),
        app=make_app(default_country="FR"),
        stored_country=None,
        country_languages=COUNTRY_LANGUAGES,
        country_of_ip=lambda ip: "EU",
    )
    assert (context.country, context.country_source) == ("FR", CountrySource.APP_DEFAULT)


def test_an_unknown_stored_country_falls_through_to_the_ip() -> None:
    assert resolve(stored_country="UK", ip="8.8.8.8").country == "US"


def test_ipv4_mapped_ipv6_peer_is_looked_up_as_ipv4() -> None:
    context = resolve(ip="::ffff:193.99.144.80")
    assert (context.ip, context.country) == ("193.99.144.80", "DE")


# --- client_* overrides (§2.1) ----------------------------------------------------------------

OVERRIDES: dict[str, Any] = {
    "client_country": "de",
    "client_ip": "193.99.144.80",
    "client_useragent": SAFARI_IPHONE,
}


def test_client_overrides_speak_for_the_user_when_the_app_allows_them() -> None:
    context = resolve_client_context(
        ClientParameters(ip="8.8.8.8", user_agent="python-httpx/0.28.1", **OVERRIDES),
        app=make_app(client_overrides_allowed=True),
        stored_country="AT",
        country_languages=COUNTRY_LANGUAGES,
        country_of_ip=IP_COUNTRIES.get,
        is_anonymous_ip={"193.99.144.80"}.__contains__,
    )
    assert (context.country, context.country_source) == ("DE", CountrySource.CLIENT_OVERRIDE)
    # The backend's own address and UA are not the user's.
    assert (context.ip, context.user_agent) == ("193.99.144.80", SAFARI_IPHONE)
    assert context.device is Device.MOBILE
    assert context.anonymous_ip


def test_client_overrides_are_ignored_for_an_app_that_may_not_override() -> None:
    context = resolve(ip="8.8.8.8", user_agent=CHROME_WINDOWS, **OVERRIDES)
    assert (context.country, context.country_source) == ("US", CountrySource.IP)
    assert (context.ip, context.user_agent) == ("8.8.8.8", CHROME_WINDOWS)
    assert context.device is Device.DESKTOP


@pytest.mark.parametrize("missing", ["client_country", "client_ip", "client_useragent"])
def test_every_client_parameter_is_required_once_one_is_set(missing: str) -> None:
    given: dict[str, Any] = {name: value for name, value in OVERRIDES.items() if name != missing}
    with pytest.raises(InvalidClientParameter) as raised:
        resolve(app=make_app(client_overrides_allowed=True), **given)
    assert raised.value.field == missing


@pytest.mark.parametrize(
    ("field", "value"),
    [("client_country", "XX"), ("client_country", "DEU"), ("client_ip", "999.1.1.1")],
)
def test_malformed_client_parameter_names_its_field(field: str, value: str) -> None:
    with pytest.raises(InvalidClientParameter) as raised:
        resolve(app=make_app(client_overrides_allowed=True), **{**OVERRIDES, field: value})
    assert raised.value.field == field


# --- language -------------------------------------------------------------------------------


def test_accept_language_is_read_by_q_value_then_order() -> None:
    header = "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7,*;q=0.5"
    assert parse_accept_language(header) == [("de", 1.0), ("en", 0.8)]
    assert parse_accept_language("en;q=0.5, fr;q=0.9, it;q=0.9") == [
        ("fr", 0.9),
        ("it", 0.9),
        ("en", 0.5),
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr;q=0, en", [("en", 1.0)]),  # q=0: not acceptable
        ("fr;q=abc, en;q=0.4", [("en", 0.4)]),  # a malformed q drops its entry
        ("fil-PH, tl;q=0.9", [("tl", 0.9)]),  # only 2-letter codes
        ("iw-IL, in;q=0.8", [("he", 1.0), ("id", 0.8)]),  # Android's deprecated codes
        ("nb-NO,nb;q=0.9,no;q=0.8,nn;q=0.7", [("no", 1.0)]),
        ("EN-gb", [("en", 1.0)]),
        ("", []),
        ("  , ;q=1, *", []),
    ],
)
def test_accept_language_edge_cases(header: str, expected: list[tuple[str, float]]) -> None:
    assert parse_accept_language(header) == expected


def test_accept_language_prefers_a_supported_language_over_a_better_unsupported_one() -> None:
    header = "fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7"
    assert pick_accept_language(header, frozenset({"de", "en"})) == "en"
    assert pick_accept_language(header, frozenset({"ja"})) == "fr"
    assert pick_accept_language(header) == "fr"
    assert pick_accept_language(None) is None


def test_lang_parameter_wins_over_accept_language() -> None:
    context = resolve(lang="DE-at", accept_language="fr-FR,fr;q=0.9", ip="8.8.8.8")
    assert context.language == "de"


def test_malformed_lang_parameter_names_its_field() -> None:
    with pytest.raises(InvalidClientParameter) as raised:
        resolve(lang="german")
    assert raised.value.field == "lang"


def test_accept_language_wins_over_the_countrys_language() -> None:
    assert resolve(accept_language="fr", ip="193.99.144.80").language == "fr"


def test_without_any_language_hint_the_countrys_main_language_is_used() -> None:
    context = resolve(ip="193.99.144.80")
    assert (context.country, context.language) == ("DE", "de")


def test_a_country_missing_from_the_language_table_speaks_english() -> None:
    context = resolve_client_context(
        ClientParameters(),
        app=make_app(default_country="NZ"),
        stored_country=None,
        country_languages=COUNTRY_LANGUAGES,
        country_of_ip=lambda ip: None,
    )
    assert (context.country, context.language) == ("NZ", "en")


# --- never unknown --------------------------------------------------------------------------

_TEXT = st.none() | st.text(max_size=60)


@given(
    ip=st.none() | st.sampled_from([*IP_COUNTRIES, "10.0.0.1", "::1", "junk"]) | st.text(),
    user_agent=_TEXT | st.sampled_from([ANDROID_SDK_TABLET, SAFARI_IPAD, CHROME_WINDOWS]),
    accept_language=_TEXT,
    platform=st.sampled_from([None, "MOBILE", "tablet", "web"]),
    os=st.sampled_from([None, "ANDROID", "ios", "Desktop"]),
    stored_country=st.none() | st.sampled_from(["DE", "UK", "fr", ""]),
)
def test_country_language_and_device_are_never_unknown(
    ip: str | None,
    user_agent: str | None,
    accept_language: str | None,
    platform: str | None,
    os: str | None,
    stored_country: str | None,
) -> None:
    context = resolve(
        stored_country=stored_country,
        ip=ip,
        user_agent=user_agent,
        accept_language=accept_language,
        platform=platform,
        os=os,
    )
    assert context.country in COUNTRY_LANGUAGES
    assert len(context.language) == 2
    assert context.language.isascii()
    assert context.language.isalpha()
    assert context.language.islower()
    assert isinstance(context.device, Device)
