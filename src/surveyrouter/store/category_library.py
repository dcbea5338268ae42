"""Loads the survey category catalogue shipped as ``surveyrouter/data/categories.json``.

Read as strictly as the question library (``store/question_library.py``): an unknown field, a
duplicate key or id, or a missing German name stops the load with the place in the file.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from surveyrouter.domain.categories import CategoryCatalog, CategoryDefinition
from surveyrouter.packaged_data import parse_strict_json, read_packaged

DATA_FILE = "categories.json"

#: Every category must be named in these languages.
REQUIRED_LANGUAGES = ("en", "de")

_TOP_FIELDS = frozenset({"version", "fallback", "categories"})
_CATEGORY_FIELDS = frozenset({"id", "name_internal", "names", "icon"})
_FALLBACK_FIELDS = _CATEGORY_FIELDS - {"id"}


class CategoryFileInvalid(ValueError):
    """The category file breaks a rule; the message says where and which."""


@functools.cache
def load_category_catalog() -> CategoryCatalog:
    """The packaged category catalogue, parsed once per process."""
    raw, source = read_packaged(DATA_FILE)
    return parse_category_catalog(raw, source=source)


def parse_category_catalog(raw: str | bytes, source: str = "<category file>") -> CategoryCatalog:
    """Parse a category file's text; raises ``CategoryFileInvalid`` naming the first problem."""
    document = parse_strict_json(raw, source, CategoryFileInvalid)
    try:
        return _catalog(document)
    except CategoryFileInvalid as error:
        raise CategoryFileInvalid(f"{source}: {error}") from None


def _catalog(document: object) -> CategoryCatalog:
    top = _object(document, "$", _TOP_FIELDS)
    if not isinstance(top["version"], int) or isinstance(top["version"], bool):
        raise CategoryFileInvalid("$.version: expected an integer")
    fallback = _category(top["fallback"], "$.fallback", _FALLBACK_FIELDS)
    entries = top["categories"]
    if not isinstance(entries, list) or not entries:
        raise CategoryFileInvalid("$.categories: expected a non-empty array")
    categories = tuple(
        _category(entry, f"$.categories[{index}]", _CATEGORY_FIELDS)
        for index, entry in enumerate(entries)
    )
    try:
        return CategoryCatalog(categories, fallback)
    except ValueError as error:
        raise CategoryFileInvalid(f"$.categories: {error}") from None


def _category(entry: object, where: str, fields: frozenset[str]) -> CategoryDefinition:
    values = _object(entry, where, fields)
    category_id = values.get("id")
    if "id" in fields and (isinstance(category_id, bool) or not isinstance(category_id, int)):
        raise CategoryFileInvalid(f"{where}.id: expected an integer")
    name_internal = _string(values["name_internal"], f"{where}.name_internal")
    icon = _string(values["icon"], f"{where}.icon")
    names = values["names"]
    if not isinstance(names, dict):
        raise CategoryFileInvalid(f"{where}.names: expected an object")
    checked = {
        language: _string(name, f"{where}.names.{language}") for language, name in names.items()
    }
    for language in REQUIRED_LANGUAGES:
        if not checked.get(language, "").strip():
            raise CategoryFileInvalid(f"{where}.names: missing {language!r} name")
    try:
        return CategoryDefinition(
            id=category_id if isinstance(category_id, int) else None,
            name_internal=name_internal,
            names=checked,
            icon=icon,
        )
    except ValueError as error:
        raise CategoryFileInvalid(f"{where}: {error}") from None


def _object(value: object, where: str, fields: frozenset[str]) -> Mapping[str, object]:
    # Every field is required: a category without a name or icon is a mistake, not a default.
    if not isinstance(value, dict):
        raise CategoryFileInvalid(f"{where}: expected an object")
    unknown = sorted(set(value) - fields)
    if unknown:
        raise CategoryFileInvalid(f"{where}: unknown field(s) {', '.join(unknown)}")
    missing = sorted(fields - set(value))
    if missing:
        raise CategoryFileInvalid(f"{where}: missing field(s) {', '.join(missing)}")
    return value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise CategoryFileInvalid(f"{where}: expected a string")
    return value
