"""Custom tags of a v2 listing (client API §2.1): BitLabs' rules, each refusal naming it."""

from __future__ import annotations

import pytest

from surveyrouter.domain.tags import (
    MAX_TAG_LENGTH,
    MAX_TAGS,
    NO_TAGS,
    TagsInvalid,
    merge_tags,
    parse_tags,
)


def test_keys_and_values_are_trimmed_and_lower_cased_in_order() -> None:
    tags = parse_tags(" Campaign = Spring Sale &placement=HOME&empty=")
    assert list(tags.items()) == [
        ("campaign", "spring sale"),
        ("placement", "home"),
        ("empty", ""),
    ]


def test_no_tags_is_an_empty_mapping() -> None:
    assert dict(parse_tags(None)) == {}
    assert dict(parse_tags("  ")) == {}


def test_percent_encoded_values_may_hold_any_character() -> None:
    assert dict(parse_tags("note=a%26b%3Dc%20%C3%9C")) == {"note": "a&b=c ü"}


def test_ten_pairs_are_fine_and_eleven_are_refused() -> None:
    ten = "&".join(f"k{n}=v" for n in range(MAX_TAGS))
    assert len(parse_tags(ten)) == MAX_TAGS
    with pytest.raises(TagsInvalid, match="at most 10 tags"):
        parse_tags(f"{ten}&k10=v")


@pytest.mark.parametrize(
    "query",
    [f"{'k' * (MAX_TAG_LENGTH + 1)}=v", f"k={'v' * (MAX_TAG_LENGTH + 1)}"],
)
def test_a_key_or_value_over_50_characters_is_refused(query: str) -> None:
    with pytest.raises(TagsInvalid, match="longer than 50 characters"):
        parse_tags(query)


def test_fifty_characters_after_trimming_are_fine() -> None:
    value = "v" * MAX_TAG_LENGTH
    assert parse_tags(f"k=  {value}  ")["k"] == value


@pytest.mark.parametrize("key", ["bad-key", "dotted.key", "ü", "", "sp ace"])
def test_a_key_beyond_letters_digits_and_underscores_is_refused(key: str) -> None:
    with pytest.raises(TagsInvalid, match="letters, digits and underscores"):
        parse_tags(f"{key}=1")


def test_hash_is_reserved_for_the_callbacks_signature() -> None:
    with pytest.raises(TagsInvalid, match="reserved"):
        parse_tags("Hash=1")


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(TagsInvalid, match="given twice"):
        parse_tags("k=1&K=2")


def test_a_query_that_is_not_key_value_pairs_is_refused() -> None:
    with pytest.raises(TagsInvalid, match="URL-encoded query"):
        parse_tags("just-text")


@pytest.mark.parametrize("key", ["val", "uid", "tx", "raw", "type", "ref", "debug"])
def test_the_callbacks_own_parameter_names_are_refused_as_keys(key: str) -> None:
    with pytest.raises(TagsInvalid, match="reserved"):
        parse_tags(f"{key}=999")


def test_a_control_character_in_a_value_is_refused() -> None:
    with pytest.raises(TagsInvalid, match="control character"):
        parse_tags("source=a%00b")


def test_a_clicks_tags_add_to_the_listings_and_win_on_a_shared_key() -> None:
    listed = parse_tags("campaign=spring&placement=home")
    assert dict(merge_tags(listed, parse_tags("placement=banner&ab=b"))) == {
        "campaign": "spring",
        "placement": "banner",
        "ab": "b",
    }
    assert merge_tags(listed, NO_TAGS) == listed


def test_together_the_listings_and_the_clicks_tags_keep_the_limit() -> None:
    listed = parse_tags("&".join(f"l{n}=v" for n in range(6)))
    clicked = parse_tags("&".join(f"c{n}=v" for n in range(4)))
    assert len(merge_tags(listed, clicked)) == MAX_TAGS
    with pytest.raises(TagsInvalid, match="together; got 11"):
        merge_tags(listed, parse_tags("&".join(f"c{n}=v" for n in range(5))))
