"""Category icons: a round SVG badge with the category's initials on a colour of its own."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from surveyrouter.domain.categories import CategoryDefinition
from surveyrouter.store.category_library import load_category_catalog
from surveyrouter.web.category_icons import category_icon_svg

SVG = "{http://www.w3.org/2000/svg}"


def _all_categories() -> list[CategoryDefinition]:
    catalog = load_category_catalog()
    return [*catalog.categories, catalog.fallback]


def _initials(svg: str) -> str:
    text = ET.fromstring(svg).find(f"{SVG}text")
    assert text is not None
    return text.text or ""


CATEGORIES = _all_categories()


@pytest.mark.parametrize("category", CATEGORIES, ids=lambda c: c.name_internal)
def test_every_catalogue_icon_is_well_formed_svg(category: CategoryDefinition) -> None:
    root = ET.fromstring(category_icon_svg(category))
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}circle") is not None


@pytest.mark.parametrize("category", CATEGORIES, ids=lambda c: c.name_internal)
def test_every_catalogue_icon_is_the_same_each_time(category: CategoryDefinition) -> None:
    assert category_icon_svg(category) == category_icon_svg(category)


@pytest.mark.parametrize("category", CATEGORIES, ids=lambda c: c.name_internal)
def test_initials_are_at_most_two_upper_case_characters(category: CategoryDefinition) -> None:
    initials = _initials(category_icon_svg(category))
    assert 1 <= len(initials) <= 2
    assert initials == initials.upper()


def test_every_catalogue_category_gets_an_icon_of_its_own() -> None:
    icons = {category_icon_svg(category) for category in CATEGORIES}
    assert len(icons) == len(CATEGORIES)


def test_a_two_word_name_gives_the_first_letters_of_both_words() -> None:
    category = CategoryDefinition(
        id=7, name_internal="sports_fitness", names={"en": "sports & fitness"}, icon="x.svg"
    )
    assert _initials(category_icon_svg(category)) == "SF"


def test_a_one_word_name_gives_its_first_two_letters() -> None:
    category = CategoryDefinition(id=8, name_internal="food", names={"en": "Food"}, icon="x.svg")
    assert _initials(category_icon_svg(category)) == "FO"


def test_the_icon_follows_the_english_name_not_the_german_one() -> None:
    english = CategoryDefinition(
        id=9, name_internal="hotels", names={"en": "Hotels", "de": "Unterkünfte"}, icon="x.svg"
    )
    assert _initials(category_icon_svg(english)) == "HO"


def test_a_name_with_xml_special_characters_is_escaped() -> None:
    category = CategoryDefinition(
        id=1,
        name_internal="food_drink",
        names={"en": "Food & <Drink>"},
        icon="categories/food.svg",
    )
    root = ET.fromstring(category_icon_svg(category))
    assert root.tag == f"{SVG}svg"
    assert len(list(root)) == 2  # the circle and the text, no injected elements


def test_initials_that_are_xml_special_characters_are_escaped() -> None:
    category = CategoryDefinition(
        id=2, name_internal="odd", names={"en": "<&>"}, icon="categories/odd.svg"
    )
    svg = category_icon_svg(category)
    assert _initials(svg) == "<&"
    assert len(list(ET.fromstring(svg))) == 2


# Some letters upper-case to more than one ("ß" -> "SS", "ﬁ" -> "FI").
@pytest.mark.parametrize("name", ["ßa", "ßa ßb", "ﬁx"])
def test_initials_stay_at_most_two_characters_when_upper_case_expands(name: str) -> None:
    category = CategoryDefinition(id=3, name_internal="odd", names={"en": name}, icon="x.svg")
    assert len(_initials(category_icon_svg(category))) <= 2
