"""Specification of survey categories: the shipped catalogue and how a survey's is picked."""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from typing import Any

import pytest

from surveyrouter.domain.categories import Category, CategoryCatalog, CategoryDefinition
from surveyrouter.store.category_library import (
    CategoryFileInvalid,
    load_category_catalog,
    parse_category_catalog,
)

# REX §3.2, the SDK's CategoryEnum.
REX_CATEGORY_IDS = (*range(550, 579), 581, 582, 583, 587)

FINANCE = CategoryDefinition(
    id=561,
    name_internal="finance",
    names={"en": "Finance", "de": "Finanzen"},
    icon="categories/finance.svg",
)
FOOD = CategoryDefinition(
    id=562, name_internal="food", names={"en": "Food"}, icon="categories/food.svg"
)
OTHER = CategoryDefinition(
    id=None,
    name_internal="other",
    names={"en": "Other", "de": "Sonstiges"},
    icon="categories/other.svg",
)
CATALOG = CategoryCatalog((FINANCE, FOOD), OTHER)


@pytest.fixture(scope="module")
def shipped() -> CategoryCatalog:
    return load_category_catalog()


@pytest.fixture
def document() -> dict[str, Any]:
    raw = resources.files("surveyrouter.data").joinpath("categories.json").read_text("utf-8")
    parsed: dict[str, Any] = json.loads(raw)
    return copy.deepcopy(parsed)


# --- picking a survey's category -------------------------------------------------------------


def test_the_first_known_id_wins() -> None:
    assert CATALOG.category_for([562, 561], "en") == Category("food", "Food", "categories/food.svg")


def test_unknown_ids_are_skipped() -> None:
    assert CATALOG.category_for([23, 10, 561], "en").name_internal == "finance"


@pytest.mark.parametrize("ids", [[], [23, 10]])
def test_a_survey_without_a_known_id_is_shown_as_other(ids: list[int]) -> None:
    assert CATALOG.category_for(ids, "de") == Category("other", "Sonstiges", "categories/other.svg")


@pytest.mark.parametrize(("language", "name"), [("de", "Finanzen"), ("de-AT", "Finanzen")])
def test_the_name_is_in_the_users_language(language: str, name: str) -> None:
    assert CATALOG.category_for([561], language).name == name


@pytest.mark.parametrize(("ids", "name"), [([561], "Finance"), ([562], "Food")])
def test_a_language_without_a_name_falls_back_to_english(ids: list[int], name: str) -> None:
    assert CATALOG.category_for(ids, "fr").name == name
    assert CATALOG.category_for([562], "de").name == "Food"


def test_a_catalog_refuses_a_repeated_id_or_machine_name() -> None:
    with pytest.raises(ValueError, match="561 appears twice"):
        CategoryCatalog((FINANCE, FINANCE), OTHER)
    other_finance = CategoryDefinition(563, "finance", {"en": "Money"}, "categories/money.svg")
    with pytest.raises(ValueError, match="'finance' appears twice"):
        CategoryCatalog((FINANCE, other_finance), OTHER)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name_internal": "Finance"}, "snake_case"),
        ({"names": {"de": "Finanzen"}}, "'en'"),
        ({"names": {"en": " "}}, "blank"),
        ({"names": {"en": "Finance", "german": "Finanzen"}}, "two-letter"),
        ({"icon": "/categories/finance.svg"}, "relative"),
        ({"icon": "https://cdn.example/finance.svg"}, "relative"),
    ],
)
def test_a_category_needs_a_snake_case_name_english_text_and_a_relative_icon(
    fields: dict[str, Any], message: str
) -> None:
    base: dict[str, Any] = {
        "id": 561,
        "name_internal": "finance",
        "names": {"en": "Finance"},
        "icon": "categories/finance.svg",
    }
    with pytest.raises(ValueError, match=message):
        CategoryDefinition(**{**base, **fields})


# --- the shipped catalogue -----------------------------------------------------------------------


def test_every_rex_category_id_is_in_the_shipped_catalogue(shipped: CategoryCatalog) -> None:
    ids = [category.id for category in shipped.categories]
    assert ids == list(REX_CATEGORY_IDS)


def test_every_shipped_category_reads_in_english_and_german(shipped: CategoryCatalog) -> None:
    for category in (*shipped.categories, shipped.fallback):
        english = category.in_language("en").name
        german = category.in_language("de").name
        assert english.strip()
        assert german.strip()
        assert category.names.keys() >= {"en", "de"}


def test_shipped_icons_are_named_for_their_category(shipped: CategoryCatalog) -> None:
    for category in (*shipped.categories, shipped.fallback):
        assert category.icon == f"categories/{category.name_internal}.svg"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", category.name_internal)


def test_the_shipped_fallback_is_other(shipped: CategoryCatalog) -> None:
    assert shipped.category_for([0], "de") == Category("other", "Sonstiges", "categories/other.svg")
    assert shipped.category_for([], "en").name == "Other"


@pytest.mark.parametrize(
    ("category_id", "name_internal", "german"),
    [
        (550, "automotive", "Auto & Motor"),
        (561, "finance", "Finanzen"),
        (565, "healthcare", "Gesundheit"),
        (582, "video_games", "Videospiele"),
        (587, "ad_hoc", "Allgemein"),
    ],
)
def test_shipped_categories_read_as_expected(
    shipped: CategoryCatalog, category_id: int, name_internal: str, german: str
) -> None:
    category = shipped.category_for([category_id], "de")
    assert (category.name_internal, category.name) == (name_internal, german)


# --- how strictly the file is read ------------------------------------------------------------


def test_the_shipped_file_parses_to_the_loaded_catalogue(
    document: dict[str, Any], shipped: CategoryCatalog
) -> None:
    assert parse_category_catalog(json.dumps(document)) == shipped


def test_a_category_without_a_german_name_is_refused(document: dict[str, Any]) -> None:
    del document["categories"][3]["names"]["de"]
    with pytest.raises(CategoryFileInvalid, match=r"\$\.categories\[3\]\.names: missing 'de'"):
        parse_category_catalog(json.dumps(document))


def test_an_unknown_or_missing_field_is_refused(document: dict[str, Any]) -> None:
    document["categories"][0]["colour"] = "red"
    with pytest.raises(
        CategoryFileInvalid, match=r"\$\.categories\[0\]: unknown field\(s\) colour"
    ):
        parse_category_catalog(json.dumps(document))
    del document["categories"][0]["colour"]
    del document["fallback"]["icon"]
    with pytest.raises(CategoryFileInvalid, match=r"\$\.fallback: missing field\(s\) icon"):
        parse_category_catalog(json.dumps(document))


def test_a_repeated_id_is_refused(document: dict[str, Any]) -> None:
    document["categories"][1]["id"] = document["categories"][0]["id"]
    with pytest.raises(CategoryFileInvalid, match="550 appears twice"):
        parse_category_catalog(json.dumps(document))


@pytest.mark.parametrize("category_id", ["550", True, 5.5])
def test_an_id_that_is_no_integer_is_refused(document: dict[str, Any], category_id: Any) -> None:
    document["categories"][0]["id"] = category_id
    with pytest.raises(CategoryFileInvalid, match=r"\$\.categories\[0\]\.id: expected an integer"):
        parse_category_catalog(json.dumps(document))


def test_a_key_written_twice_is_refused() -> None:
    with pytest.raises(CategoryFileInvalid, match="'version' appears twice"):
        parse_category_catalog('{"version": 1, "version": 2}', source="x.json")


def test_text_that_is_no_json_is_refused() -> None:
    with pytest.raises(CategoryFileInvalid, match=r"x\.json: not valid JSON"):
        parse_category_catalog("{", source="x.json")
