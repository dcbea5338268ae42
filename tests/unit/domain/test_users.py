"""Publisher user ids, and the respondent ids exchanges see instead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveyrouter.domain.users import User, UserIdInvalid, check_uid, respondent_id

SECRET = bytes(range(32))


@pytest.mark.parametrize(
    "uid", ["8cc877ee-af19-488d-b28d-216fb866b996", "12345", "a" * 65, "sl/ash", "erased"]
)
def test_uuids_numbers_and_ascii_up_to_65_characters_are_user_ids(uid: str) -> None:
    assert check_uid(uid) == uid


@pytest.mark.parametrize(
    "uid", ["", "a" * 66, "jürgen", "tab\there", "line\n", "erased-0123456789abcdef"]
)
def test_empty_long_non_ascii_or_an_erased_users_ids_are_refused(uid: str) -> None:
    with pytest.raises(UserIdInvalid):
        check_uid(uid)


def test_the_respondent_id_is_stable_and_different_per_app() -> None:
    first = respondent_id(SECRET, 1, "42")
    assert respondent_id(SECRET, 1, "42") == first
    assert respondent_id(SECRET, 2, "42") != first
    assert respondent_id(b"another server", 1, "42") != first
    assert "42" not in first
    assert len(first) == 32


@given(st.integers(1, 10**6), st.text(min_size=1, max_size=65), st.text(min_size=1, max_size=65))
def test_respondent_ids_do_not_collide_across_app_and_uid_boundaries(
    app_id: int, uid: str, other: str
) -> None:
    # "1" + "2x" must not be "12" + "x": the separator keeps the two apart.
    if uid != other:
        assert respondent_id(SECRET, app_id, uid) != respondent_id(SECRET, app_id, other)
    assert respondent_id(SECRET, app_id, uid) != respondent_id(SECRET, app_id + 1, uid)


def test_a_ban_lasts_until_its_end() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    user = User(1, 1, "u", "r", now, banned_until=now + timedelta(hours=1))
    assert user.banned_at(now)
    assert not user.banned_at(now + timedelta(hours=1))
    assert not User(1, 1, "u", "r", now).banned_at(now)
