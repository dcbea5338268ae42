"""Writing JSON for exchange payloads, fast: orjson, falling back to the standard library for
what it refuses (integers beyond 64 bits, which an exchange may send in a field we keep but
never read). Text stays UTF-8 as sent (German answer texts stay readable in the database).

Reading stays with the standard library: orjson turns an integer beyond 64 bits into a float,
and a payload we keep "as sent" must come back as it was.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``."""
    return dump_bytes(value).decode()


def dump_bytes(value: Any) -> bytes:
    """Compact JSON of ``value`` as UTF-8 bytes."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
