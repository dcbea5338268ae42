"""Ids, page numbers and list URLs as the dashboard's paths, forms and queries write them."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from surveyrouter.web.admin.auth import AdminProblem


def stored_id(text: str) -> int | None:
    """``text`` as an id that could be stored; None unless it is ASCII digits naming a
    positive bigint (a larger number would be an error in PostgreSQL, not a miss)."""
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 0 < number < 2**63 else None


MAX_PAGE = 1_000_000


def page_number(text: str) -> int | None:
    """A list's page (``""`` is the first), or None unless it is from 1 to ``MAX_PAGE``."""
    number = stored_id(text) if text else 1
    return number if number is not None and number <= MAX_PAGE else None


def requested_page(text: str) -> int:
    """The page a list's query asks for; a 400 page unless it is one ``page_number`` reads."""
    number = page_number(text)
    if number is None:
        raise AdminProblem(400, f"Pages are numbered from 1 to {MAX_PAGE}.")
    return number


def list_url(
    path: str, filters: Mapping[str, str], page: int, after: Mapping[str, str] | None = None
) -> str:
    """A list's URL at ``page``, naming only the filters set (and no page for the first), so
    that a list's links read as short as what an operator would type; ``after`` follows the
    page (a redirect's notice)."""
    parameters = {**filters, "page": "" if page == 1 else str(page), **(after or {})}
    kept = {name: value for name, value in parameters.items() if value}
    return path + (f"?{urlencode(kept)}" if kept else "")
