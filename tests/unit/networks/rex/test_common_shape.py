"""The common-shape fast path gives exactly what the wire models give, or steps aside.

Real payloads (Dynata's published samples and the sandbox's synthetic market) are the starting
point; hypothesis then changes one thing at a time (a field dropped, retyped or added, in the
opportunity, a cell, a filter or quota object), the kinds of difference a real exchange sends.
For every variant the fast path either declines (``None``) or returns what
``parse_with_models``, the plain reference, returns, down to the types of the values.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surveyrouter import json_codec
from surveyrouter.networks.rex.common_shape import parse_common, parse_common_document
from surveyrouter.networks.rex.opportunities import (
    InvalidOpportunity,
    parse_document,
    parse_opportunity,
    parse_with_models,
)
from surveyrouter.networks.rex.wire import KNOWN_CELL_KINDS
from surveyrouter.sandbox.market import generate_market
from tests.conftest import SHARED_FIXTURES

NETWORK = "rex"


def _fixture_payloads() -> list[dict[str, Any]]:
    folder = SHARED_FIXTURES / "rex"
    items = json.loads((folder / "receive_notifications.json").read_text())
    items.append(json.loads((folder / "get_opportunity.json").read_text()))
    return list(items)


def _sandbox_payloads() -> list[dict[str, Any]]:
    market = generate_market(40, seed=3)
    # Through JSON, as the registry client reads them: numbers, strings and lists only.
    return [json_codec.loads(json_codec.dump_bytes(document)) for document in market.opportunities]


PAYLOADS = _fixture_payloads() + _sandbox_payloads()


def assert_same(fast: Any, reference: Any, where: str = "opportunity") -> None:
    """Equal, and of the same types all the way down (``1 == True``, ``Decimal("1.0") ==
    Decimal("1")`` and two datetimes with different offsets can compare equal)."""
    assert type(fast) is type(reference), where
    if dataclasses.is_dataclass(fast) and not isinstance(fast, type):
        for field in dataclasses.fields(fast):
            assert_same(
                getattr(fast, field.name), getattr(reference, field.name), f"{where}.{field.name}"
            )
    elif isinstance(fast, dict):
        assert list(fast) == list(reference), where
        for key in fast:
            assert_same(fast[key], reference[key], f"{where}[{key!r}]")
    elif isinstance(fast, tuple | list):
        assert len(fast) == len(reference), where
        for index, (a, b) in enumerate(zip(fast, reference, strict=True)):
            assert_same(a, b, f"{where}[{index}]")
    elif isinstance(fast, frozenset | set):
        assert fast == reference, where
        assert sorted(map(repr, fast)) == sorted(map(repr, reference)), where
    elif isinstance(fast, Decimal):
        assert fast.as_tuple() == reference.as_tuple(), where
    elif isinstance(fast, datetime):
        assert fast == reference, where
        assert fast.utcoffset() == reference.utcoffset(), where
    elif isinstance(fast, Enum):
        assert fast is reference, where
    else:
        assert fast == reference, where


def check(payload: Any) -> None:
    """The property: the fast path declines, or agrees with the reference exactly; read from
    the payload's JSON text, it answers as it does for the payload."""
    fast = parse_common(payload, NETWORK)
    document = json_codec.dump_bytes(payload)
    from_text = parse_common_document(document, NETWORK)
    assert (from_text is None) == (fast is None), "the text and the value read differently"
    try:
        reference = parse_with_models(payload, NETWORK)
    except InvalidOpportunity:
        assert fast is None, "the fast path accepted a payload the wire models refuse"
        with pytest.raises(InvalidOpportunity):
            parse_document(document, NETWORK)
        return
    if fast is not None:
        assert_same(fast, reference)
        assert_same(from_text, reference)
    assert_same(parse_opportunity(payload, NETWORK), reference)
    assert_same(parse_document(document, NETWORK), reference)


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: str(p["id"]))
def test_real_payloads_take_the_fast_path_and_agree(payload: dict[str, Any]) -> None:
    fast = parse_common(payload, NETWORK)
    assert fast is not None
    assert_same(fast, parse_with_models(payload, NETWORK))
    from_text = parse_common_document(json.dumps(payload, indent=2), NETWORK)
    assert from_text is not None
    assert_same(from_text, fast)


def test_a_document_that_is_not_json_is_refused_by_the_json_reader() -> None:
    assert parse_common_document(b'{"id": 1,', NETWORK) is None
    with pytest.raises(ValueError, match="Expecting"):
        parse_document(b'{"id": 1,', NETWORK)


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "OPEN",
            "PAUSED",
            "CLOSED",
            "AND",
            "or",
            "US",
            "en",
            "mobile",
            "desktop",
            *sorted(KNOWN_CELL_KINDS),
            "99",
            "2021-03-30T14:17:29.208Z",
            "2021-03-30T14:17:29Z",
            "2021-03-30T14:17:29.2+05:30",
            "2021-03-30 14:17:29Z",
            "2021-03-30T14:17:29",
            "2021-02-30T14:17:29Z",
            "2021-03-30T24:00:00Z",
            "2021-03-30T14:17:29.1234567Z",
            "2021-03-30T14:17:29+24:00",
        ]
    )
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
NUMBERS = (
    st.integers(-5, 10**9)
    | st.floats(-1, 1e9, allow_nan=False)
    | st.decimals(-1, 10**9, places=6, allow_nan=False).map(float)
)


def _containers(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The payload and every object inside it that a change may land in (earlier changes may
    have made some of them something else)."""

    def objects(value: Any) -> list[dict[str, Any]]:
        return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

    found: list[dict[str, Any]] = [payload]
    found += [
        payload[n] for n in ("locale", "links", "requirements") if isinstance(payload.get(n), dict)
    ]
    for cell in objects(payload.get("cells")):
        found.append(cell)
        if isinstance(cell.get("range"), dict):
            found.append(cell["range"])
    for name in ("filters", "quotas"):
        groups = payload.get(name)
        for group in groups if isinstance(groups, list) else []:
            found += objects(group)
    return found


@st.composite
def variants(draw: st.DrawFn) -> dict[str, Any]:
    payload = copy.deepcopy(draw(st.sampled_from(PAYLOADS)))
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(_containers(payload)))
        names = sorted(target) or ["id"]
        change = draw(st.sampled_from(["drop", "retype", "renumber", "add"]))
        if change == "drop" and target:
            del target[draw(st.sampled_from(names))]
        elif change == "retype":
            target[draw(st.sampled_from(names))] = draw(JSON_VALUES)
        elif change == "renumber":
            name = draw(st.sampled_from([*names, "cost_per_interview"]))
            target[name] = draw(NUMBERS)
        else:
            target[draw(st.text(min_size=1, max_size=12))] = draw(JSON_VALUES)
    return payload


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(variants())
def test_changed_payloads_take_either_path_with_one_result(payload: dict[str, Any]) -> None:
    check(payload)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(PAYLOADS), NUMBERS)
def test_every_price_reads_as_the_wire_models_read_it(payload: dict[str, Any], cpi: Any) -> None:
    check({**payload, "cost_per_interview": cpi})


@pytest.mark.parametrize(
    "changed",
    [
        {"surprise": 1},  # an unknown field: the wire models log it once
        {"status": "ARCHIVED"},  # an unknown status: OTHER, logged
        {"devices": ["watch"]},  # an unknown device: dropped, logged
        {"category_ids": [999]},  # an unknown category: kept, logged
        {"id": "13231"},  # a number sent as a string: coerced
        {"created": "2021-03-30 14:17:29Z"},  # another RFC 3339 spelling
    ],
)
def test_what_the_wire_models_must_see_is_left_to_them(changed: dict[str, Any]) -> None:
    payload = {**PAYLOADS[0], **changed}
    assert parse_common(payload, NETWORK) is None
    check(payload)


def test_a_dangling_tag_is_left_to_the_wire_models() -> None:
    payload = copy.deepcopy(PAYLOADS[0])
    payload["filters"][0][0]["cells"] = ["no-such-tag"]
    assert parse_common(payload, NETWORK) is None
    check(payload)
