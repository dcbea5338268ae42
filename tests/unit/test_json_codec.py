"""json_codec reads and writes what the standard library does, only faster."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveyrouter import json_codec

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: beyond 64 bits included
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@given(json_values)
def test_reads_back_what_the_standard_library_reads(value: Any) -> None:
    text = json.dumps(value)
    assert json_codec.loads(text.encode()) == json.loads(text)
    assert json_codec.loads(text) == json.loads(text)


@pytest.mark.parametrize(
    "number", [2**63, -(2**63) - 1, 2**64, 10**30, 18446744073709551615, 9223372036854775807]
)
def test_integers_beyond_64_bits_stay_integers(number: int) -> None:
    value = json_codec.loads(f'{{"client_id": {number}}}'.encode())
    assert value == {"client_id": number}
    assert isinstance(value["client_id"], int)


@pytest.mark.parametrize("template", ["{}", "[{}]", "[1,{}]", '{{"a":{}}}', '{{"a": \n\t{}}}'])
def test_a_long_integer_in_any_position_stays_an_integer(template: str) -> None:
    number = 10**25 + 1
    value = json_codec.loads(template.format(number).encode())
    assert value == json.loads(template.format(number))
    leaf = value
    while not isinstance(leaf, int):
        leaf = leaf["a"] if isinstance(leaf, dict) else leaf[-1]
    assert leaf == number


def test_a_long_digit_string_reads_as_a_string() -> None:
    assert json_codec.loads(b'{"postal": "12345678901234567890"}') == {
        "postal": "12345678901234567890"
    }


def test_what_only_the_standard_library_accepts_is_still_accepted() -> None:
    value = json_codec.loads(b"[NaN, Infinity]")
    assert value[1] == float("inf")
    assert value[0] != value[0]


@pytest.mark.parametrize("document", [b"{", b'{"a": }', b"[1, 2", b"", b"\xff"])
def test_malformed_documents_fail_as_the_standard_library_fails(document: bytes) -> None:
    try:
        json.loads(document)
    except ValueError as error:  # JSONDecodeError, or UnicodeDecodeError for b"\xff"
        expected = error
    else:
        pytest.fail(f"the standard library accepted {document!r}")
    with pytest.raises(type(expected)) as raised:
        json_codec.loads(document)
    assert str(raised.value) == str(expected)


@given(json_values)
def test_writes_what_the_standard_library_reads_back(value: Any) -> None:
    assert json.loads(json_codec.dumps(value)) == value


LONG_INTEGER_AT_A_NUMBER_START = re.compile(rb"(?:^|[\[,:\s])-?\d{19}")
"""The plain statement of what the scan looks for, which the scan must agree with."""


PIECES = ["1234567890", "123456789", "0", "-", ",", ":", "[", " ", "\t", '"', "a", "é"]


@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join) | json_values.map(json.dumps))
def test_the_long_integer_scan_finds_what_the_plain_regex_finds(text: str) -> None:
    data = text.encode()
    expected = LONG_INTEGER_AT_A_NUMBER_START.search(data) is not None
    assert json_codec._may_hold_long_integers(data) is expected
