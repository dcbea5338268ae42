"""An app's colours as CSS custom properties, each with a readable text colour on it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveyrouter.web.theme import DEFAULT_ACCENT, DEFAULT_BACKGROUND, readable_on, theme_css

WHITE = "#ffffff"
NEAR_BLACK = "#111827"


def _wcag_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance, written out independently of the module under test."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))

    def linear(channel: int) -> float:
        srgb = channel / 255
        return srgb / 12.92 if srgb <= 0.04045 else ((srgb + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def _contrast(first: str, second: str) -> float:
    lighter, darker = sorted((_wcag_luminance(first), _wcag_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _properties(css: str) -> dict[str, str]:
    match = re.fullmatch(r":root\{([^{}]*)\}", css)
    assert match is not None, css
    declarations = [declaration.partition(":") for declaration in match.group(1).split(";")]
    return {name: value for name, _, value in declarations}


@pytest.mark.parametrize("colour", ["#000000", "#1d4ed8", "#6d28d9"])
def test_text_on_a_dark_colour_is_white(colour: str) -> None:
    assert readable_on(colour) == WHITE


@pytest.mark.parametrize("colour", ["#ffffff", "#f5f3ff", "#ffff00"])
def test_text_on_a_light_colour_is_near_black(colour: str) -> None:
    assert readable_on(colour) == NEAR_BLACK


@pytest.mark.parametrize(
    ("short", "long"), [("#000", "#000000"), ("#fff", "#ffffff"), ("#16d", "#1166dd")]
)
def test_a_three_digit_colour_reads_like_its_six_digit_form(short: str, long: str) -> None:
    assert readable_on(short) == readable_on(long)


@pytest.mark.parametrize("colour", ["#1d4ed8ff", "#1d4ed880", "#ffffff00", "#f5f3ffcc"])
def test_a_colour_with_alpha_reads_like_its_opaque_form(colour: str) -> None:
    assert readable_on(colour) == readable_on(colour[:7])


def test_upper_case_hex_digits_read_like_lower_case_ones() -> None:
    assert readable_on("#1D4ED8") == readable_on("#1d4ed8")
    assert readable_on("#F5F3FF") == readable_on("#f5f3ff")


def test_without_colours_the_theme_uses_the_defaults() -> None:
    assert _properties(theme_css(())) == {
        "--accent": DEFAULT_ACCENT,
        "--on-accent": readable_on(DEFAULT_ACCENT),
        "--background": DEFAULT_BACKGROUND,
        "--on-background": readable_on(DEFAULT_BACKGROUND),
    }


def test_with_one_colour_it_is_the_accent_and_the_background_stays_default() -> None:
    properties = _properties(theme_css(["#6d28d9"]))
    assert properties["--accent"] == "#6d28d9"
    assert properties["--on-accent"] == WHITE
    assert properties["--background"] == DEFAULT_BACKGROUND
    assert properties["--on-background"] == readable_on(DEFAULT_BACKGROUND)


def test_with_two_colours_they_are_the_accent_and_the_background() -> None:
    properties = _properties(theme_css(("#ffff00", "#000000")))
    assert properties == {
        "--accent": "#ffff00",
        "--on-accent": NEAR_BLACK,
        "--background": "#000000",
        "--on-background": WHITE,
    }


def test_the_theme_is_a_single_root_rule_with_the_four_properties() -> None:
    css = theme_css(("#1d4ed8", "#f5f3ff"))
    assert css.startswith(":root{")
    assert css.endswith("}")
    assert css.count("{") == css.count("}") == 1
    assert set(_properties(css)) == {"--accent", "--on-accent", "--background", "--on-background"}


def test_the_default_colours_get_their_expected_text_colours() -> None:
    assert readable_on(DEFAULT_ACCENT) == WHITE
    assert readable_on(DEFAULT_BACKGROUND) == NEAR_BLACK


@given(st.integers(min_value=0, max_value=0xFFFFFF))
def test_the_chosen_text_colour_contrasts_at_least_as_much_as_the_other(rgb: int) -> None:
    colour = f"#{rgb:06x}"
    chosen = readable_on(colour)
    assert chosen in (WHITE, NEAR_BLACK)
    other = NEAR_BLACK if chosen == WHITE else WHITE
    assert _contrast(chosen, colour) >= _contrast(other, colour)
