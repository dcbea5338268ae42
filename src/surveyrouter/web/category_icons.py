"""Category icons for survey cards: a round badge with the category's initials on a colour of
its own, drawn as SVG so every category in the catalogue has one without shipping artwork."""

from __future__ import annotations

import hashlib
from html import escape

from surveyrouter.domain.categories import CategoryDefinition


def category_icon_svg(category: CategoryDefinition) -> str:
    """The SVG badge of ``category``: always the same for the same category."""
    initials = _initials(category.names["en"])
    hue = int.from_bytes(hashlib.sha256(category.name_internal.encode()).digest()[:2]) % 360
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48" width="48" height="48" '
        'role="img" aria-hidden="true">'
        f'<circle cx="24" cy="24" r="24" fill="hsl({hue} 55% 38%)"/>'
        '<text x="24" y="24" dy=".35em" text-anchor="middle" fill="#fff" '
        'font-family="system-ui,sans-serif" font-size="18" font-weight="600">'
        f"{escape(initials)}</text></svg>"
    )


def _initials(name: str) -> str:
    words = [w for w in name.replace("&", " ").replace("-", " ").split() if w[:1].isalnum()]
    # Upper-cased before cutting: "ß" becomes "SS", which must not make three letters.
    if len(words) >= 2:
        return (words[0][0].upper() + words[1][0].upper())[:2]
    return name.upper()[:2] if name else "?"
