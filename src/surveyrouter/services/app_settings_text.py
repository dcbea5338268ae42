"""App settings written as text, as an operator types them on the command line or in the
dashboard's forms, and back: one parser per setting, so both places agree on what a text means.

Lists are comma-separated (``US, CA``); switches take true/false, yes/no, on/off or 1/0; an
empty text clears an optional setting (a URL, a reward) and empties a list.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from surveyrouter.domain.apps import AppSettingInvalid
from surveyrouter.services.apps import SETTINGS


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return value


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An empty value ("") clears an optional setting."""
    return lambda text: None if text == "" else parse(text)


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def parse_boolean(text: str) -> bool:
    """A switch's value; raises ``ValueError`` for a text that is neither true nor false."""
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(f"{text!r} is not true or false")


PARSERS: dict[str, Callable[[str], Any]] = {
    "revenue_share": _decimal,
    "currency_factor": _decimal,
    "currency_bonus_percent": _whole,
    "start_bonus_questions": _whole,
    "ranking_variants": _whole,
    "screenout_reward": _optional(_decimal),
    "start_bonus_reward": _optional(_decimal),
    "allowed_countries": lambda text: frozenset(c.upper() for c in _items(text)),
    "default_country": str.upper,
    "leaderboard_rewards": lambda text: tuple(_decimal(r) for r in _items(text)),
    "colors": lambda text: tuple(_items(text)),
    "callback_url": _optional(str),
    "redirect_complete_url": _optional(str),
    "redirect_screenout_url": _optional(str),
    "redirect_start_bonus_url": _optional(str),
    "redirect_termination_url": _optional(str),
}
"""How each setting's text becomes its value (raising ``ValueError``); any other setting of
``SETTINGS`` that is not a switch is kept as the text itself."""

FLAGS = frozenset(
    {
        "currency_whole_units",
        "currency_symbol_is_image",
        "client_overrides_allowed",
        "leaderboard_enabled",
        "verified",
    }
)
"""The settings that are switches (true or false)."""

CLEARABLE = frozenset(
    {
        "screenout_reward",
        "start_bonus_reward",
        "callback_url",
        "redirect_complete_url",
        "redirect_screenout_url",
        "redirect_start_bonus_url",
        "redirect_termination_url",
        "allowed_countries",
        "leaderboard_rewards",
        "colors",
    }
)
"""The settings for which an empty text means something: none, or an empty list."""


def parse_setting(name: str, text: str) -> Any:
    """The value of setting ``name`` (as ``SETTINGS`` spells it) written as ``text``.

    Raises ``AppSettingInvalid`` naming the setting for an unknown setting or a text that is
    not of its kind; whether the value keeps the setting's rules is the ``App``'s to check.
    """
    if name not in SETTINGS:
        raise AppSettingInvalid(name, "no such setting")
    try:
        if name in FLAGS:
            return parse_boolean(text)
        return PARSERS.get(name, str)(text)
    except ValueError as error:
        raise AppSettingInvalid(name, str(error)) from None


def format_setting(name: str, value: Any) -> str:
    """``value`` of setting ``name`` as text that ``parse_setting`` reads back to it."""
    if name in FLAGS:
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, frozenset):
        return ", ".join(sorted(value))
    if isinstance(value, tuple | list):
        return ", ".join(_decimal_text(item) for item in value)
    return _decimal_text(value)


def _decimal_text(value: Any) -> str:
    if isinstance(value, Decimal):
        # Never in exponent form (1E+3), which an operator would not recognise as 1000.
        return f"{value:f}"
    return str(value)
