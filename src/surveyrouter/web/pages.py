"""The HTML shell every hosted page shares: language, the app's colours, the stylesheet and
scripts, and the page's settings as JSON that its script reads."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from surveyrouter.api.health import package_version
from surveyrouter.web.messages import messages
from surveyrouter.web.theme import theme_css

STATIC_PATH = "/offerwall/static"
ICONS_PATH = "/offerwall/icons"


def asset(name: str) -> str:
    """The URL of a static file, with the release in the query so an upgrade is never served
    from a stale cache."""
    return f"{STATIC_PATH}/{name}?v={escape(package_version())}"


def page(
    *,
    title: str,
    language: str,
    colors: Sequence[str],
    body: str,
    scripts: Sequence[str] = (),
    settings: Mapping[str, Any] | None = None,
) -> str:
    """A whole HTML document. ``body`` is trusted markup; ``settings`` are embedded as JSON
    (``<`` escaped, so no value can close the script element)."""
    config = ""
    if settings is not None:
        document = json.dumps(settings, ensure_ascii=False, separators=(",", ":"))
        config = (
            '<script id="page-settings" type="application/json">'
            + document.replace("<", "\\u003c")
            + "</script>"
        )
    tags = "".join(f'<script src="{asset(name)}" defer></script>' for name in scripts)
    return (
        f'<!doctype html><html lang="{escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title>"
        f'<link rel="stylesheet" href="{asset("offerwall.css")}">'
        f"<style>{theme_css(colors)}</style>{config}{tags}</head>"
        f"<body>{body}</body></html>"
    )


def error_page(language: str, detail: str) -> str:
    """The page for a link that cannot work (unknown app, missing user id, bad tags): what
    is wrong, in words a user can pass on to the app's support."""
    words = messages(language)
    body = (
        '<main class="page"><section class="panel notice" role="alert">'
        f"<h1>{escape(words['page_error_title'])}</h1>"
        f"<p>{escape(words['page_error_detail'])}</p>"
        f'<p class="muted"><code>{escape(detail)}</code></p></section></main>'
    )
    return page(title=words["page_error_title"], language=language, colors=(), body=body)
