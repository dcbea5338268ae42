"""Survey categories as users see them: a localized name, a machine name and an icon.

Exchanges tag opportunities with category ids (REX §3.2, 550–587); the client API shows one
category per survey as ``details.category{name, name_internal, icon_url}`` (client API seed).
The shipped catalogue is ``data/categories.json``, read by ``store/category_library.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from surveyrouter.domain.questions import FALLBACK_LANGUAGE

_LANGUAGE = re.compile(r"[a-z]{2}")
_NAME_INTERNAL = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class Category:
    """One category in one language, as a survey shows it.

    ``icon`` is a path relative to the icon base URL (e.g. ``categories/finance.svg``); the API
    turns it into ``icon_url``.
    """

    name_internal: str
    name: str
    icon: str


@dataclass(frozen=True, slots=True)
class CategoryDefinition:
    """One category with its names in every language we have; ``id`` is None for the fallback."""

    id: int | None
    name_internal: str
    names: Mapping[str, str] = field(hash=False)
    icon: str

    def __post_init__(self) -> None:
        owner = f"category {self.name_internal!r}"
        if not _NAME_INTERNAL.fullmatch(self.name_internal):
            raise ValueError(f"{owner}: name_internal is not snake_case")
        for language, name in self.names.items():
            if not _LANGUAGE.fullmatch(language):
                raise ValueError(f"{owner}: language {language!r} is not a two-letter code")
            if not name.strip():
                raise ValueError(f"{owner}: name in {language!r} is blank")
        if FALLBACK_LANGUAGE not in self.names:
            raise ValueError(f"{owner}: has no {FALLBACK_LANGUAGE!r} name to fall back to")
        if not self.icon or self.icon.startswith("/") or "://" in self.icon:
            raise ValueError(f"{owner}: icon {self.icon!r} is not a relative path")
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))

    def in_language(self, language: str) -> Category:
        """This category named in ``language`` (e.g. "de", "de-AT"), else in English."""
        wanted = language.strip().lower().replace("_", "-")
        primary = wanted.split("-", 1)[0]
        name = self.names.get(wanted) or self.names.get(primary) or self.names[FALLBACK_LANGUAGE]
        return Category(name_internal=self.name_internal, name=name, icon=self.icon)


@dataclass(frozen=True, slots=True)
class CategoryCatalog:
    """Every known category by exchange id, and the one shown for ids we do not know."""

    categories: tuple[CategoryDefinition, ...]
    fallback: CategoryDefinition
    _by_id: Mapping[int, CategoryDefinition] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        categories = tuple(self.categories)
        by_id: dict[int, CategoryDefinition] = {}
        names = {self.fallback.name_internal}
        for category in categories:
            if category.id is None:
                raise ValueError(f"category {category.name_internal!r} has no id")
            if category.id in by_id:
                raise ValueError(f"category id {category.id} appears twice")
            if category.name_internal in names:
                raise ValueError(f"category name_internal {category.name_internal!r} appears twice")
            by_id[category.id] = category
            names.add(category.name_internal)
        object.__setattr__(self, "categories", categories)
        object.__setattr__(self, "_by_id", MappingProxyType(by_id))

    def __contains__(self, category_id: object) -> bool:
        return category_id in self._by_id

    def category_for(self, category_ids: Iterable[int], language: str) -> Category:
        """The category a survey is shown under: its first id we know, else the fallback.

        REX §3.2: ids are opaque integers and unknown ones are not errors, so they are skipped.
        """
        for category_id in category_ids:
            known = self._by_id.get(category_id)
            if known is not None:
                return known.in_language(language)
        return self.fallback.in_language(language)
