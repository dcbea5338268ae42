"""Survey links are signed for one app, user, network and survey, and last a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveyrouter.domain.survey_links import (
    ListingLinks,
    SurveyLink,
    SurveyLinkInvalid,
    link_query,
    read_link,
)

SECRET = bytes(range(32))
T0 = datetime(2026, 12, 1, 12, 0, 0, 500_000, tzinfo=UTC)
LINK = SurveyLink(app_id=3, uid="user-1", network_id=1, survey_id=41739, issued_at=T0)


def test_a_link_reads_back_as_what_it_was_signed_for() -> None:
    query = link_query(SECRET, LINK)
    assert read_link(SECRET, 1, 41739, query, T0 + timedelta(hours=23)) == LINK
    assert LINK.issued_at.microsecond == 0  # the link carries whole seconds


@pytest.mark.parametrize(
    ("network", "survey", "changes"),
    [
        (1, 41740, {}),  # another survey
        (2, 41739, {}),  # another network
        (1, 41739, {"uid": "user-2"}),  # another user
        (1, 41739, {"app": "4"}),  # another app
        (1, 41739, {"ts": str(int(T0.timestamp()) + 3600)}),  # made to last longer
        (1, 41739, {"hash": "0" * 64}),
    ],
)
def test_a_tampered_link_is_refused(network: int, survey: int, changes: dict[str, str]) -> None:
    query = {**link_query(SECRET, LINK), **changes}
    with pytest.raises(SurveyLinkInvalid) as refused:
        read_link(SECRET, network, survey, query, T0)
    assert refused.value.reason == "invalid_link"


def test_another_servers_link_is_refused() -> None:
    with pytest.raises(SurveyLinkInvalid, match="signature"):
        read_link(b"another secret", 1, 41739, link_query(SECRET, LINK), T0)


@pytest.mark.parametrize("missing", ["app", "uid", "ts", "hash"])
def test_an_incomplete_link_is_refused(missing: str) -> None:
    query = link_query(SECRET, LINK)
    del query[missing]
    with pytest.raises(SurveyLinkInvalid, match="incomplete"):
        read_link(SECRET, 1, 41739, query, T0)


@pytest.mark.parametrize("ts", ["soon", "1e9", "99999999999999999999"])
def test_a_malformed_time_is_refused(ts: str) -> None:
    with pytest.raises(SurveyLinkInvalid):
        read_link(SECRET, 1, 41739, {**link_query(SECRET, LINK), "ts": ts}, T0)


@pytest.mark.parametrize(
    "changes",
    [
        {"app": "+3"},
        {"app": " 3"},
        {"app": "\u0663"},  # ARABIC-INDIC DIGIT THREE: int() reads it as 3
        {"ts": "+" + str(int(T0.timestamp()))},
        {"hash": "é" * 64},
        {"hash": "\ud800"},
    ],
)
def test_a_number_not_written_as_we_write_it_or_a_hash_beyond_ascii_is_refused(
    changes: dict[str, str],
) -> None:
    query = {**link_query(SECRET, LINK), **changes}
    with pytest.raises(SurveyLinkInvalid) as refused:
        read_link(SECRET, 1, 41739, query, T0)
    assert refused.value.reason == "invalid_link"


def test_a_link_expires_after_24_hours() -> None:
    query = link_query(SECRET, LINK)
    with pytest.raises(SurveyLinkInvalid) as refused:
        read_link(SECRET, 1, 41739, query, T0 + timedelta(hours=24, seconds=1))
    assert refused.value.reason == "expired_link"


def test_a_link_from_the_future_is_refused() -> None:
    query = link_query(SECRET, LINK)
    with pytest.raises(SurveyLinkInvalid, match="future"):
        read_link(SECRET, 1, 41739, query, T0 - timedelta(minutes=10))


@given(
    st.integers(1, 10**9),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=65),
    st.integers(0, 100),
    st.integers(1, 2**62),
)
def test_any_link_round_trips(app_id: int, uid: str, network: int, survey: int) -> None:
    link = SurveyLink(app_id, uid, network, survey, T0)
    assert read_link(SECRET, network, survey, link_query(SECRET, link), T0) == link


@given(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=65),
    st.dictionaries(
        st.sampled_from(["rating", "cr", "loi", "cpi"]), st.text(max_size=8), max_size=4
    ),
)
def test_a_listing_link_is_the_signed_query_and_the_shown_values_urlencoded(
    uid: str, shown: dict[str, str]
) -> None:
    link = SurveyLink(3, uid, 1, 41739, T0)
    written = ListingLinks(SECRET, 3, uid, T0).query(1, 41739, shown)
    assert written == urlencode({**link_query(SECRET, link), **shown})
    read = dict(parse_qsl(written, keep_blank_values=True))
    assert read_link(SECRET, 1, 41739, read, T0) == link
