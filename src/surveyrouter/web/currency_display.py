"""An amount as the app writes it (client API §3.4): "860 Points", "$1.72" from a
``{value}`` template, or the number beside the app's currency icon. ``offerwall.js`` follows
the same rule for the amounts the API returns."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from surveyrouter.domain.apps import Currency
from surveyrouter.domain.money import format_amount


def amount_html(value: Decimal, currency: Currency) -> str:
    """``value`` in ``currency``, as HTML."""
    text = format_amount(value)
    if currency.symbol_is_image:
        return (
            f'<span class="amount">{escape(text)} '
            f'<img class="currency-icon" src="{escape(currency.symbol)}" alt=""></span>'
        )
    if "{value}" in currency.symbol:
        return f'<span class="amount">{escape(currency.symbol.replace("{value}", text))}</span>'
    return f'<span class="amount">{escape(f"{text} {currency.symbol}")}</span>'
