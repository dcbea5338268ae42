"""An app's colours (``App.colors``: the accent, then optionally the page background) as CSS
custom properties, each with a text colour that stays readable on it."""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_ACCENT = "#1d4ed8"
DEFAULT_BACKGROUND = "#f5f6f8"
_DARK_TEXT = "#111827"
_LIGHT_TEXT = "#ffffff"


def theme_css(colors: Sequence[str]) -> str:
    """A ``:root`` rule with ``--accent``, ``--on-accent``, ``--background`` and
    ``--on-background``; colours the app did not set take the defaults."""
    accent = colors[0] if colors else DEFAULT_ACCENT
    background = colors[1] if len(colors) > 1 else DEFAULT_BACKGROUND
    return (
        f":root{{--accent:{accent};--on-accent:{readable_on(accent)};"
        f"--background:{background};--on-background:{readable_on(background)}}}"
    )


def readable_on(colour: str) -> str:
    """White or near-black, whichever contrasts more with ``colour`` (#rgb, #rrggbb or
    #rrggbbaa, as ``App`` allows), by WCAG 2 relative luminance."""
    luminance = _luminance(colour)
    dark, light = _luminance(_DARK_TEXT), 1.0
    on_dark_text = (luminance + 0.05) / (dark + 0.05)
    on_light_text = (light + 0.05) / (luminance + 0.05)
    return _DARK_TEXT if on_dark_text >= on_light_text else _LIGHT_TEXT


def _luminance(colour: str) -> float:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
