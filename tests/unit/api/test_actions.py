"""How Get Actions shows questions: kept per question and locale, never stale."""

from __future__ import annotations

from surveyrouter.api.actions import question_out
from surveyrouter.domain.questions import AnswerOption, Question, QuestionType


def gender(text: str = "What is your gender?", male: str = "Male") -> Question:
    return Question(
        id=1,
        key="gender",
        type=QuestionType.SINGLE,
        text={"en": text, "de": "Was ist Ihr Geschlecht?"},
        answers=(AnswerOption("1", {"en": male}), AnswerOption("2", {"en": "Female"})),
        standard=True,
    )


def test_the_same_question_in_the_same_locale_is_shown_as_one_shared_model() -> None:
    assert question_out(gender(), 0, "US", "en") is question_out(gender(), 0, "US", "en")


def test_each_locale_and_network_gets_its_own_texts_and_ids() -> None:
    english, german = question_out(gender(), 0, "US", "en"), question_out(gender(), 0, "DE", "de")
    assert (english.country, english.localized_text) == ("US", "What is your gender?")
    assert (german.country, german.localized_text) == ("DE", "Was ist Ihr Geschlecht?")
    assert question_out(gender(), 1, "US", "en").network_id == 1


def test_an_edited_question_is_shown_with_its_new_texts() -> None:
    before = question_out(gender(), 0, "US", "en")
    after = question_out(gender(text="Your gender?", male="Man"), 0, "US", "en")
    assert before.localized_text == "What is your gender?"
    assert after.localized_text == "Your gender?"
    assert [answer.localized_text for answer in after.answers] == ["Man", "Female"]
