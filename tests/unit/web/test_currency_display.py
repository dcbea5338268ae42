"""An amount as the app writes it: "860 Points", "$1.72" from a template, or beside an icon."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from surveyrouter.domain.apps import Currency
from surveyrouter.web.currency_display import amount_html

COIN = "https://cdn.example/coin.svg"


def _parse(html: str) -> ET.Element:
    # The <img> is an HTML void element; close it so the snippet parses as XML.
    return ET.fromstring(html.replace('alt="">', 'alt=""/>'))


def test_the_default_currency_writes_the_amount_before_the_word_points() -> None:
    html = amount_html(Decimal("860"), Currency())
    assert "860 Points" in html
    assert _parse(html).text == "860 Points"


def test_a_plain_symbol_follows_the_amount_after_a_space() -> None:
    html = amount_html(Decimal("12"), Currency(symbol="Coins"))
    assert _parse(html).text == "12 Coins"


def test_a_value_template_puts_the_amount_where_the_placeholder_is() -> None:
    html = amount_html(Decimal("1.72"), Currency(whole_units=False, symbol="${value}"))
    assert "$1.72" in html
    assert _parse(html).text == "$1.72"


def test_the_amount_is_written_without_an_exponent() -> None:
    html = amount_html(Decimal("1E+3"), Currency())
    assert _parse(html).text == "1000 Points"


def test_an_image_symbol_shows_the_amount_beside_the_icon() -> None:
    html = amount_html(Decimal("860"), Currency(symbol=COIN, symbol_is_image=True))
    root = _parse(html)
    assert (root.text or "").strip() == "860"
    images = root.findall("img")
    assert len(images) == 1
    assert images[0].get("src") == COIN
    assert images[0].get("alt") == ""


def test_an_image_url_with_quotes_cannot_break_out_of_the_src_attribute() -> None:
    url = 'https://cdn.example/coin.svg" onerror="alert(1)'
    html = amount_html(Decimal("1"), Currency(symbol=url, symbol_is_image=True))
    image = _parse(html).find("img")
    assert image is not None
    assert image.get("src") == url
    assert image.get("onerror") is None


def test_html_in_a_template_symbol_is_escaped() -> None:
    html = amount_html(Decimal("5"), Currency(symbol="<b>{value}</b>"))
    assert "<b>" not in html
    root = _parse(html)
    assert root.find("b") is None
    assert root.text == "<b>5</b>"


def test_html_in_a_plain_symbol_is_escaped() -> None:
    html = amount_html(Decimal("5"), Currency(symbol="<script>x</script>"))
    assert "<script>" not in html
    assert _parse(html).text == "5 <script>x</script>"


def test_the_amount_is_wrapped_in_an_amount_span() -> None:
    root = _parse(amount_html(Decimal("3"), Currency()))
    assert root.tag == "span"
    assert root.get("class") == "amount"
