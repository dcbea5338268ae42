"""The hand-written JSON files shipped in ``surveyrouter/data`` (questions, categories,
countries' languages), read strictly: a file that is no JSON, or an object with a key written
twice (JSON keeps the last; in a hand-edited file that hides a mistake), is refused with the
file's name."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from importlib import resources

DATA_PACKAGE = "surveyrouter.data"


class _DuplicateKey(ValueError):
    pass


def read_packaged(name: str) -> tuple[bytes, str]:
    """The packaged file ``name``'s bytes, and the name errors about it use."""
    return resources.files(DATA_PACKAGE).joinpath(name).read_bytes(), f"{DATA_PACKAGE}/{name}"


def parse_strict_json(
    raw: str | bytes,
    source: str,
    invalid: Callable[[str], Exception],
    *,
    parse_float: Callable[[str], float | Decimal] | None = None,
) -> object:
    """The document in ``raw``; raises ``invalid(message)`` naming ``source`` for text that is
    no JSON or repeats a key in one object."""
    try:
        return json.loads(raw, parse_float=parse_float, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as error:
        raise invalid(f"{source}: not valid JSON: {error}") from error
    except _DuplicateKey as error:
        raise invalid(f"{source}: {error}") from None


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"key {key!r} appears twice in one object")
        result[key] = value
    return result
