"""The words the hosted pages show, in English and German (``messages.json``), and how a page
picks its language: the ``lang`` parameter, then the browser's ``Accept-Language``, then
English."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType

from surveyrouter.domain.client_context import parse_accept_language

DEFAULT_LANGUAGE = "en"


@cache
def _catalog() -> Mapping[str, Mapping[str, str]]:
    text = resources.files("surveyrouter.web").joinpath("messages.json").read_text("utf-8")
    document: dict[str, dict[str, str]] = json.loads(text)
    english = document[DEFAULT_LANGUAGE]
    for language, strings in document.items():
        missing = english.keys() - strings.keys()
        if missing:
            raise ValueError(f"messages.json: {language!r} lacks {sorted(missing)}")
    return MappingProxyType({k: MappingProxyType(v) for k, v in document.items()})


def languages() -> tuple[str, ...]:
    """The languages the pages are written in, English first."""
    return tuple(_catalog())


def messages(language: str) -> Mapping[str, str]:
    """Every message in ``language`` (one of ``languages()``, else English)."""
    catalog = _catalog()
    return catalog.get(language, catalog[DEFAULT_LANGUAGE])


def page_language(lang: str | None, accept_language: str | None) -> str:
    """``lang`` when the pages are written in it, else the best language of the browser's
    ``Accept-Language`` that they are written in, else English."""
    supported = languages()
    wanted = (lang or "").strip().lower().replace("_", "-").split("-")[0]
    if wanted in supported:
        return wanted
    for language, _ in parse_accept_language(accept_language):
        if language in supported:
            return language
    return DEFAULT_LANGUAGE


def render(template: str, **values: str) -> str:
    """``template`` with each ``{name}`` replaced; unknown names are left as written."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template
