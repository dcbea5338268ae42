"""How the dashboard reads ids and pages from its queries and writes its lists' URLs."""

from __future__ import annotations

import pytest

from surveyrouter.web.admin.auth import AdminProblem
from surveyrouter.web.admin.ids import MAX_PAGE, list_url, requested_page, stored_id


@pytest.mark.parametrize("text", ["", "0", "-1", "1.5", "١٢", " 7", str(2**63)])
def test_only_ascii_digits_naming_a_positive_bigint_are_stored_ids(text: str) -> None:
    assert stored_id(text) is None


def test_an_ascii_number_is_a_stored_id() -> None:
    assert stored_id("42") == 42
    assert stored_id(str(2**63 - 1)) == 2**63 - 1


def test_no_page_is_the_first_and_pages_run_to_the_last() -> None:
    assert requested_page("") == 1
    assert requested_page(str(MAX_PAGE)) == MAX_PAGE


@pytest.mark.parametrize("text", ["0", "x", str(MAX_PAGE + 1)])
def test_a_page_outside_the_range_is_a_400_that_says_the_range(text: str) -> None:
    with pytest.raises(AdminProblem) as raised:
        requested_page(text)
    assert raised.value.status_code == 400
    assert f"from 1 to {MAX_PAGE}" in str(raised.value.detail)


def test_a_list_url_names_only_the_filters_set_and_no_first_page() -> None:
    assert list_url("/admin/activity", {"kind": ""}, 1) == "/admin/activity"
    assert list_url("/admin/activity", {"kind": "app_created"}, 1) == (
        "/admin/activity?kind=app_created"
    )


def test_a_later_page_comes_after_the_filters_and_before_a_notice() -> None:
    url = list_url("/admin/callbacks", {"app": "3", "status": ""}, 2, {"done": "retried"})
    assert url == "/admin/callbacks?app=3&page=2&done=retried"


def test_values_are_quoted() -> None:
    assert list_url("/admin/x", {"q": "a&b c"}, 1) == "/admin/x?q=a%26b+c"
