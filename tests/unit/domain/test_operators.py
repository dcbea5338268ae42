"""Operator names and passwords: checked when an account is made."""

from __future__ import annotations

import pytest

from surveyrouter.domain.operators import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    OperatorInvalid,
    check_password,
    check_username,
)


@pytest.mark.parametrize(
    ("typed", "kept"),
    [("alice", "alice"), ("  Ops@Example.org ", "ops@example.org"), ("a.b-c_d", "a.b-c_d")],
)
def test_a_username_is_kept_lower_cased_and_trimmed(typed: str, kept: str) -> None:
    assert check_username(typed) == kept


@pytest.mark.parametrize("typed", ["", "ab", "-alice", "al ice", "alïce", "a" * 65, "x/y"])
def test_a_username_outside_the_rules_is_refused_naming_the_field(typed: str) -> None:
    with pytest.raises(OperatorInvalid) as refused:
        check_username(typed)
    assert refused.value.field == "username"


def test_a_password_needs_twelve_characters_and_no_more_than_the_cap() -> None:
    assert check_password("x" * MIN_PASSWORD_LENGTH) == "x" * MIN_PASSWORD_LENGTH
    for typed in ("x" * (MIN_PASSWORD_LENGTH - 1), " " * 20, "x" * (MAX_PASSWORD_LENGTH + 1)):
        with pytest.raises(OperatorInvalid) as refused:
            check_password(typed)
        assert refused.value.field == "password"
