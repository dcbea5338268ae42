"""Loads the survey category catalogue shipped as ``surveyrouter/data/categories.json``.

Read as strictly as the question library (``store/question_library.py``): an unknown field, a
duplicate key or id, or a missing German name stops the load with the place in the file.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources

from surveyrouter.domain.categories import CategoryCatalog, CategoryDefinition

DATA_PACKAGE = "surveyrouter.data"
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
    raw = resources.files(DATA_PACKAGE).joinpath(DATA_FILE).read_bytes()
    return parse_category_catalog(raw, source=f"{DATA_PACKAGE}/{DATA_FILE}")


def parse_category_catalog(raw: str | bytes, source: str = "<category file>") -> CategoryCatalog:
    """Parse a category file's text; raises ``CategoryFileInvalid`` naming the first problem."""
    try:
        document = json.loads(raw, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as error:
        raise CategoryFileInvalid(f"{source}: not valid JSON: {error}") from error
    except _DuplicateKey as error:
        raise CategoryFileInvalid(f"{source}: {error}") from None
    try:
        return _catalog(document)
    except CategoryFileInvalid as error:
        raise CategoryFileInvalid(f"{source}: {error}") from None


class _DuplicateKey(ValueError):
    pass


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # json keeps the last of two equal keys; in a hand-edited file that hides a mistake.
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"key {key!r} appears twice in one object")
        result[key] = value
    return result


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
