"""The pure rules of the publisher S2S API (client API §2.8): what an imported profile must
hold, how a stored one reads back, and how a test callback is built and reported."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from surveyrouter.domain.apps import App, Currency
from surveyrouter.domain.callbacks import CallbackTemplateInvalid, verify_callback
from surveyrouter.domain.money import RewardKind
from surveyrouter.domain.profile import Gender
from surveyrouter.domain.questions import Question, QuestionNotFound
from surveyrouter.domain.users import User
from surveyrouter.services.publishers import (
    BODY_PREVIEW_BYTES,
    AnswerFormatInvalid,
    CheckedProfile,
    ImportedAnswer,
    ImportedUser,
    ImportRefusal,
    NoCallbackUrl,
    SampleCallback,
    check_profile,
    legacy_macros,
    profile_of,
    sample_reward,
    send_test_callback,
    signed_test_url,
    spoken_languages,
    with_debug_flag,
)
from surveyrouter.store.answers import StoredAnswer
from surveyrouter.store.question_library import load_question_library

LIBRARY = load_question_library()
TODAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
SECRET = "publisher-secret-0001"
APP = App(
    name="Quiz",
    api_token="api-token-000000001",
    secret=SECRET,
    s2s_token="s2s-token-000000001",
    id=3,
    currency=Currency(factor=Decimal(1000)),
    start_bonus_reward=Decimal(50),
)
BANK = dataclasses.replace(LIBRARY.by_key("pets"), key="sandbox_attribute_5001")


def question_of(network_id: int, key: str) -> Question:
    """The library on network 0, one network question on network 1."""
    if network_id == 0:
        return LIBRARY.by_key(key)
    if network_id == 1 and key == BANK.key:
        return BANK
    raise QuestionNotFound(key)


def imported(**changes: object) -> ImportedUser:
    user = ImportedUser(
        uid="user-1",
        country="DE",
        languages=("de", "en"),
        birthdate="1990-05-01",
        gender="FEMALE",
        questions=(ImportedAnswer("employment_status", 0, ("200101",)),),
        zipcode="10115",
        username="Anna",
    )
    return dataclasses.replace(user, **changes)  # type: ignore[arg-type]


def check(user: ImportedUser) -> CheckedProfile | ImportRefusal:
    return check_profile(user, LIBRARY, question_of, TODAY)


# ---------------------------------------------------------------- import


def test_a_valid_profile_becomes_answers_by_question_key() -> None:
    assert check(imported()) == CheckedProfile(
        uid="user-1",
        country="DE",
        language="de",
        username="Anna",
        answers={
            "gender": ("2",),
            "birth_date": ("1990-05-01",),
            "postal_code": ("10115",),
            "employment_status": ("200101",),
        },
    )


@pytest.mark.parametrize(("gender", "option"), [("MALE", "1"), ("female", "2"), (" Male ", "1")])
def test_gender_is_the_library_option_that_feeds_the_same_rex_answer(
    gender: str, option: str
) -> None:
    result = check(imported(gender=gender))
    assert isinstance(result, CheckedProfile)
    assert result.answers["gender"] == (option,)


@pytest.mark.parametrize("gender", ["OTHER", "DIVERSE", ""])
def test_a_gender_the_library_cannot_answer_is_invalid(gender: str) -> None:
    result = check(imported(gender=gender))
    assert result == ImportRefusal(
        uid="user-1", invalid_gender=f"{gender!r} is not one of MALE, FEMALE"
    )


def test_a_birth_date_keeps_the_libraries_age_limits() -> None:
    result = check(imported(birthdate="2020-01-01"))
    assert isinstance(result, ImportRefusal)
    assert result.invalid_birthdate is not None
    assert "below the minimum 13" in result.invalid_birthdate


@pytest.mark.parametrize("zipcode", [None, "", "  "])
def test_a_missing_or_blank_zip_code_names_no_postal_code(zipcode: str | None) -> None:
    result = check(imported(zipcode=zipcode))
    assert isinstance(result, CheckedProfile)
    assert "postal_code" not in result.answers


def test_the_postal_code_may_come_as_a_question_when_the_zip_code_is_absent() -> None:
    result = check(
        imported(zipcode=None, questions=(ImportedAnswer("postal_code", 0, ("10115",)),))
    )
    assert isinstance(result, CheckedProfile)
    assert result.answers["postal_code"] == ("10115",)


def test_a_networks_own_question_is_found_on_its_network_only() -> None:
    on_network = check(imported(questions=(ImportedAnswer(BANK.key, 1, ("201901",)),)))
    on_library = check(imported(questions=(ImportedAnswer(BANK.key, 0, ("201901",)),)))

    assert isinstance(on_network, CheckedProfile)
    assert on_network.answers[BANK.key] == ("201901",)
    assert on_library == ImportRefusal(uid="user-1", invalid_question=BANK.key)


def test_every_problem_kind_is_reported_at_once_each_with_its_first_problem() -> None:
    result = check(
        imported(
            birthdate="1990-02-30",
            gender="OTHER",
            zipcode="1234",
            languages=("deutsch",),
            questions=(
                ImportedAnswer("no_such", 0, ("1",)),
                ImportedAnswer("also_missing", 0, ("1",)),
                ImportedAnswer("pets", 0, ("201901", "201901")),
                ImportedAnswer("smoking", 0, ("x",)),
            ),
        )
    )
    assert result == ImportRefusal(
        uid="user-1",
        invalid_birthdate="'1990-02-30' is not a calendar date",
        invalid_gender="'OTHER' is not one of MALE, FEMALE",
        invalid_zipcode="'1234' does not match the pattern '[0-9]{5}'",
        invalid_question="no_such",
        unsupported_languages=True,
        invalid_answer_format=AnswerFormatInvalid("pets", "answer id '201901' is given twice"),
    )


@pytest.mark.parametrize(
    "questions",
    [
        (ImportedAnswer("pets", 0, ("201901",)), ImportedAnswer("pets", 0, ("201902",))),
        (ImportedAnswer("birth_date", 0, ("1990-05-01",)),),
        (ImportedAnswer("postal_code", 0, ("10115",)),),
    ],
)
def test_a_question_answered_twice_is_an_invalid_answer_format(
    questions: tuple[ImportedAnswer, ...],
) -> None:
    result = check(imported(questions=questions))
    assert isinstance(result, ImportRefusal)
    assert result.invalid_answer_format == AnswerFormatInvalid(
        questions[-1].question_id, "the question is answered more than once"
    )


@pytest.mark.parametrize(
    ("tags", "languages"),
    [
        (("de", "en"), ("de", "en")),
        (("de-AT", "DE", "en_GB"), ("de", "en")),
        (("iw",), ("he",)),
        ((), ()),
        (("de", "deutsch"), ()),
        (("de", " "), ()),
    ],
)
def test_spoken_languages_are_two_letter_codes_or_none_at_all(
    tags: tuple[str, ...], languages: tuple[str, ...]
) -> None:
    assert spoken_languages(tags) == languages


# ---------------------------------------------------------------- profile


def stored(*answers: tuple[str, tuple[str, ...], bool]) -> dict[str, StoredAnswer]:
    return {key: StoredAnswer(key, values, skipped, NOW) for key, values, skipped in answers}


USER = User(id=9, app_id=3, uid="user-1", respondent_id="r" * 32, created_at=NOW)


def test_a_profile_shows_the_standard_answers_and_every_answered_question() -> None:
    user = dataclasses.replace(USER, country="DE", language="de", username="Anna")
    answers = stored(
        ("gender", ("1",), False),
        ("birth_date", ("1990-05-01",), False),
        ("pets", ("201901",), False),
        ("smoking", (), True),
    )

    profile = profile_of(user, answers, LIBRARY, NOW)

    assert profile.country == "DE"
    assert profile.main_language == "de"
    assert profile.spoken_languages == ("de",)
    assert profile.gender is Gender.MALE
    assert profile.birthdate == "1990-05-01"
    assert profile.zipcode is None
    assert profile.username == "Anna"
    assert profile.banned is False
    assert profile.questions == (
        ("birth_date", ("1990-05-01",)),
        ("gender", ("1",)),
        ("pets", ("201901",)),
    )


def test_a_user_never_profiled_has_an_empty_profile() -> None:
    profile = profile_of(USER, {}, LIBRARY, NOW)

    assert profile.spoken_languages == ()
    assert profile.gender is None
    assert profile.questions == ()


def test_banned_means_a_ban_in_force_now() -> None:
    ended = dataclasses.replace(USER, banned_until=NOW - timedelta(seconds=1))
    running = dataclasses.replace(USER, banned_until=NOW + timedelta(days=1))

    assert profile_of(ended, {}, LIBRARY, NOW).banned is False
    assert profile_of(running, {}, LIBRARY, NOW).banned is True


# ---------------------------------------------------------------- test callback


@pytest.mark.parametrize(
    ("template", "flagged"),
    [
        ("https://pub.example/cb", "https://pub.example/cb?debug=true"),
        ("https://pub.example/cb?uid=[%UID%]", "https://pub.example/cb?uid=[%UID%]&debug=true"),
        ("https://pub.example/cb?", "https://pub.example/cb?debug=true"),
        ("https://pub.example/cb?a=1&", "https://pub.example/cb?a=1&debug=true"),
    ],
)
def test_debug_true_joins_the_query(template: str, flagged: str) -> None:
    assert with_debug_flag(template) == flagged


def test_legacy_macros_are_the_renamed_set_a_names_once_each_in_order() -> None:
    template = "https://p.example/?v=[%VAL%]&u=[%UID%]&t=[%TX%]&i=[%IP%]&u2=[%UID%]&x=[%USER:UID%]"
    assert legacy_macros(template) == ("[%VAL%]", "[%UID%]", "[%IP%]")


def test_the_signed_url_carries_debug_true_under_a_hash_that_verifies() -> None:
    template = "https://Pub.example/cb?uid=[%UID%]&val=[%VAL%]&raw=[%RAW%]&tx=[%TX%]&t=[%TYPE%]"
    url = signed_test_url(template, SampleCallback(uid="a b"), APP, "test1", {"sub": "7"})

    assert verify_callback(url, SECRET)
    assert url.startswith("https://pub.example/cb?uid=a%20b&val=1000&raw=1.00&tx=test1")
    query = parse_qs(urlsplit(url).query)
    assert query["debug"] == ["true"]
    assert query["sub"] == ["7"]
    assert query["t"] == ["COMPLETE"]


def test_a_template_with_nowhere_to_put_the_hash_is_refused_before_debug_is_added() -> None:
    with pytest.raises(CallbackTemplateInvalid, match="needs a path"):
        signed_test_url("https://pub.example", SampleCallback(), APP, "test1")


@pytest.mark.parametrize(
    ("sample", "usd", "value"),
    [
        (SampleCallback(), "1.00", "1000"),
        (SampleCallback(usd=Decimal("0.125")), "0.13", "130"),
        (SampleCallback(kind=RewardKind.SCREENOUT, usd=Decimal("0.02")), "0.02", "20"),
        (SampleCallback(kind=RewardKind.RECONCILIATION, usd=Decimal("1.5")), "-1.50", "-1500"),
        (SampleCallback(kind=RewardKind.START_BONUS, usd=Decimal(9)), "0.00", "50"),
    ],
)
def test_a_sample_reward_carries_the_amounts_a_real_callback_would(
    sample: SampleCallback, usd: str, value: str
) -> None:
    reward = sample_reward(sample, APP)
    assert reward.kind is sample.kind
    assert (str(reward.usd), str(reward.value)) == (usd, value)


def answering(respond: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(transport=respond, follow_redirects=False)


def test_the_receivers_answer_is_shown_with_the_first_2_kib_of_its_body() -> None:
    sent: list[str] = []

    def respond(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(
            302, content=b"x" * 5000, headers={"Content-Type": "text/html", "Location": "/x"}
        )

    with answering(httpx.MockTransport(respond)) as http:
        result = send_test_callback(
            APP, "https://pub.example/cb?x=[%NOPE%]", SampleCallback(), http
        )

    assert sent == [result.url]
    assert result.response is not None
    assert result.response.status_code == 302
    assert result.response.body == "x" * BODY_PREVIEW_BYTES
    assert result.response.content_type == "text/html"
    assert result.invalid_macros == ("[%NOPE%]",)
    assert result.error is None


def test_an_unreachable_receiver_is_reported_not_raised() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with answering(httpx.MockTransport(refuse)) as http:
        result = send_test_callback(APP, "https://pub.example/cb", SampleCallback(), http)

    assert result.response is None
    assert result.error == "ConnectError: connection refused"


def test_the_apps_callback_url_is_the_default_and_one_is_needed() -> None:
    configured = dataclasses.replace(APP, callback_url="https://pub.example/cb?tx=[%TX%]")
    with answering(httpx.MockTransport(lambda request: httpx.Response(204))) as http:
        result = send_test_callback(configured, None, SampleCallback(transaction_id="t1"), http)
        with pytest.raises(NoCallbackUrl):
            send_test_callback(APP, None, SampleCallback(), http)

    assert result.url.startswith("https://pub.example/cb?tx=t1&debug=true&hash=")
    assert result.response is not None
    assert result.response.body == ""
