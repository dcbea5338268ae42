"""The hosted pages' words in every language, and how a page picks its language."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from surveyrouter.web.messages import languages, messages, page_language, render

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _document() -> dict[str, dict[str, str]]:
    text = resources.files("surveyrouter.web").joinpath("messages.json").read_text("utf-8")
    document: dict[str, dict[str, str]] = json.loads(text)
    return document


def test_the_pages_are_written_in_english_first_then_german() -> None:
    assert languages() == ("en", "de")


@pytest.mark.parametrize("language", sorted(_document()))
def test_every_language_has_exactly_the_english_keys(language: str) -> None:
    document = _document()
    assert set(document[language]) == set(document["en"])


@pytest.mark.parametrize("language", sorted(_document()))
def test_every_message_has_the_same_placeholders_as_its_english_original(language: str) -> None:
    document = _document()
    for key, english in document["en"].items():
        translated = document[language][key]
        assert set(_PLACEHOLDER.findall(translated)) == set(_PLACEHOLDER.findall(english)), key


def test_the_loaded_messages_match_the_json_file() -> None:
    document = _document()
    for language in languages():
        assert dict(messages(language)) == document[language]


@pytest.mark.parametrize("lang", ["de", "DE", "de-AT", "de_CH", " de "])
def test_a_supported_lang_parameter_wins_in_any_spelling(lang: str) -> None:
    assert page_language(lang, "en-US,en;q=0.9") == "de"


def test_a_supported_lang_parameter_wins_over_the_browser() -> None:
    assert page_language("en", "de-DE,de;q=0.9") == "en"


def test_an_unsupported_lang_falls_back_to_the_browsers_first_supported_language() -> None:
    assert page_language("fr", "fr-FR,de;q=0.8") == "de"


def test_an_empty_lang_falls_back_to_the_browser() -> None:
    assert page_language("", "de") == "de"
    assert page_language(None, "de-AT") == "de"


def test_the_browsers_languages_are_taken_by_q_not_by_order() -> None:
    assert page_language(None, "en;q=0.5, de;q=0.9") == "de"


def test_a_language_the_browser_refuses_with_q_zero_is_not_chosen() -> None:
    assert page_language(None, "de;q=0") == "en"
    assert page_language(None, "de;q=0, fr") == "en"


@pytest.mark.parametrize("accept_language", [None, "", "fr-FR,es;q=0.9", "*", "garbage;;;"])
def test_without_anything_usable_the_page_is_english(accept_language: str | None) -> None:
    assert page_language(None, accept_language) == "en"
    assert page_language("xx", accept_language) == "en"


def test_messages_in_an_unknown_language_are_the_english_ones() -> None:
    assert messages("xx") == messages("en")
    assert messages("") == messages("en")


def test_german_messages_differ_from_the_english_ones() -> None:
    assert messages("de")["close"] != messages("en")["close"]


def test_render_replaces_every_named_value() -> None:
    assert render("Question {answered} of {required}", answered="2", required="5") == (
        "Question 2 of 5"
    )


def test_render_replaces_a_name_used_twice() -> None:
    assert render("{x} and {x}", x="1") == "1 and 1"


def test_render_leaves_unknown_names_as_written() -> None:
    assert render("Earn {value} in {minutes} min", value="10 Points") == (
        "Earn 10 Points in {minutes} min"
    )


def test_render_without_values_returns_the_template() -> None:
    assert render("Rating {rating} of 5") == "Rating {rating} of 5"
