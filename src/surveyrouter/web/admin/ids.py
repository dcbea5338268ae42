"""Ids and page numbers as the dashboard's paths, forms and queries write them."""

from __future__ import annotations


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
