"""A publisher's app: how it authenticates, what its users earn and where they are sent.

Settings are checked when an ``App`` is made, so a bad one is refused where it is entered (the
CLI, an admin call) with the field it concerns, never discovered later on the money path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

DEFAULT_REVENUE_SHARE = Decimal("0.7")
DEFAULT_COUNTRY = "US"
_COUNTRY = re.compile(r"[A-Z]{2}")
_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
# Client API §1.2: user ids are at most 65 characters; an app name is for people.
MAX_NAME_LENGTH = 200
MAX_TOKEN_LENGTH = 64
# A setting's amount: eight digits before the point. Money is stored with fourteen
# (NUMERIC(18, 4)), so a reward of the largest factor with the largest bonus still fits for
# any CPI under $90,000.
MAX_AMOUNT = Decimal(10) ** 8


class AppSettingInvalid(ValueError):
    """One app setting breaks its rule; ``setting`` names it as the CLI and API spell it."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting
        self.message = message


@dataclass(frozen=True, slots=True)
class Currency:
    """The app's currency (client API §3.4): ``factor`` units per USD of publisher revenue (it
    already embeds what the publisher passes on to users), raised by ``bonus_percent``; shown
    in ``whole_units`` (rounded down) or with two decimals; ``symbol`` is a text, optionally
    with a ``{value}`` placeholder, or the URL of an icon when ``symbol_is_image``."""

    factor: Decimal = Decimal(1000)
    bonus_percent: int = 0
    whole_units: bool = True
    symbol: str = "{value} Points"
    symbol_is_image: bool = False


@dataclass(frozen=True, slots=True)
class RedirectUrls:
    """Where the user's browser goes after a survey (client API §3.3); None: our result page."""

    complete: str | None = None
    screenout: str | None = None
    start_bonus: str | None = None
    termination: str | None = None


@dataclass(frozen=True, slots=True)
class App:
    """One publisher app. ``id`` is None until the store has assigned one.

    ``revenue_share`` is the fraction of the exchange's CPI the publisher earns; the operator
    keeps the rest. ``screenout_reward`` is USD per rewarded screenout (None: screenouts pay
    nothing); ``start_bonus_reward`` is in app currency units, paid once when the user has
    answered ``start_bonus_questions`` profile questions. ``allowed_countries`` empty means
    every country. ``ranking_variants`` > 0 splits users into that many A/B groups.
    """

    name: str
    api_token: str
    secret: str
    s2s_token: str
    id: int | None = None
    revenue_share: Decimal = DEFAULT_REVENUE_SHARE
    currency: Currency = Currency()
    default_country: str = DEFAULT_COUNTRY
    allowed_countries: frozenset[str] = frozenset()
    client_overrides_allowed: bool = False
    callback_url: str | None = None
    redirects: RedirectUrls = RedirectUrls()
    screenout_reward: Decimal | None = None
    start_bonus_reward: Decimal | None = None
    start_bonus_questions: int = 0
    leaderboard_enabled: bool = False
    leaderboard_rewards: tuple[Decimal, ...] = ()
    colors: tuple[str, ...] = ()
    verified: bool = True
    ranking_variants: int = 0

    def __post_init__(self) -> None:
        _check_text("name", self.name, MAX_NAME_LENGTH)
        for name in ("api_token", "secret", "s2s_token"):
            _check_token(name, getattr(self, name))
        _check_decimal("revenue_share", self.revenue_share)
        if not Decimal(0) < self.revenue_share <= Decimal(1):
            raise AppSettingInvalid("revenue_share", "must be more than 0 and at most 1")
        _check_currency(self.currency)
        _check_country("default_country", self.default_country)
        for country in self.allowed_countries:
            _check_country("allowed_countries", country)
        if self.allowed_countries and self.default_country not in self.allowed_countries:
            raise AppSettingInvalid(
                "default_country", f"{self.default_country} is not among allowed_countries"
            )
        if self.callback_url is not None:
            _check_url("callback_url", self.callback_url)
        for name in ("complete", "screenout", "start_bonus", "termination"):
            url = getattr(self.redirects, name)
            if url is not None:
                _check_url(f"redirect_{name}_url", url)
        if self.screenout_reward is not None:
            _check_amount("screenout_reward", self.screenout_reward)
        if self.start_bonus_reward is not None:
            _check_amount("start_bonus_reward", self.start_bonus_reward)
        _check_count("start_bonus_questions", self.start_bonus_questions, 0, 50)
        for reward in self.leaderboard_rewards:
            _check_amount("leaderboard_rewards", reward)
        for colour in self.colors:
            if not _COLOUR.fullmatch(colour):
                raise AppSettingInvalid("colors", f"{colour!r} is not a #rgb or #rrggbb colour")
        _check_count("ranking_variants", self.ranking_variants, 0, 100)

    @property
    def pays_screenouts(self) -> bool:
        return self.screenout_reward is not None and self.screenout_reward > 0

    @property
    def has_start_bonus(self) -> bool:
        return self.start_bonus_questions > 0

    def serves_country(self, country: str) -> bool:
        return not self.allowed_countries or country in self.allowed_countries


def _check_text(name: str, value: str, limit: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise AppSettingInvalid(name, "must not be empty")
    if "\x00" in value:
        raise AppSettingInvalid(name, "must not contain a NUL character")
    if len(value) > limit:
        raise AppSettingInvalid(name, f"must be at most {limit} characters")


def _check_token(name: str, value: str) -> None:
    _check_text(name, value, MAX_TOKEN_LENGTH)
    if not value.isascii() or any(c.isspace() for c in value):
        raise AppSettingInvalid(name, "must be printable ASCII without spaces")
    if len(value) < 16:
        # A guessable token is someone else's app.
        raise AppSettingInvalid(name, "must be at least 16 characters")


def _check_decimal(name: str, value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise AppSettingInvalid(name, "must be a finite decimal number")


def _check_amount(name: str, value: Decimal) -> None:
    _check_decimal(name, value)
    if value < 0:
        raise AppSettingInvalid(name, "must not be negative")
    if value >= MAX_AMOUNT:
        raise AppSettingInvalid(name, f"must be less than {MAX_AMOUNT:,}")
    if value.as_tuple().exponent < -4:  # type: ignore[operator]
        raise AppSettingInvalid(name, "must have at most four decimal places")


def _check_currency(currency: Currency) -> None:
    _check_amount("currency_factor", currency.factor)
    if currency.factor <= 0:
        raise AppSettingInvalid("currency_factor", "must be more than 0")
    _check_count("currency_bonus_percent", currency.bonus_percent, 0, 1000)
    _check_text("currency_symbol", currency.symbol, 500)
    if currency.symbol_is_image:
        _check_url("currency_symbol", currency.symbol)


def _check_count(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AppSettingInvalid(name, f"must be a whole number from {low} to {high}")


def _check_country(name: str, value: str) -> None:
    if not isinstance(value, str) or not _COUNTRY.fullmatch(value):
        raise AppSettingInvalid(name, f"{value!r} is not an ISO 3166-1 alpha-2 code like US")


def _check_url(name: str, value: str) -> None:
    if "\x00" in value:
        raise AppSettingInvalid(name, "must not contain a NUL character")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AppSettingInvalid(name, f"{value!r} is not an absolute http(s) URL")
