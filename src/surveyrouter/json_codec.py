"""Exchange JSON, fast: orjson both ways, the standard library wherever orjson would answer
differently. Text stays UTF-8 as sent (German answer texts stay readable in the database).

orjson refuses integers beyond 64 bits when writing, and when reading turns them into floats;
a payload we keep "as sent" must come back as it was, so a document with such a number (a run
of 19 or more digits where a number can start, a cheap scan that may also send a long digit
string the slow way, harmlessly) is read by the standard library. So is anything orjson
refuses to read (``NaN``, lone surrogates), so that what is accepted and what each error says
stay the standard library's.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# 2**63 has 19 digits: any integer orjson could read as a float has at least as many. A number
# starts after a structural character or whitespace (and its sign), which a digit run inside
# a string mostly does not: hex ids and hashes, common in exchange payloads, stay fast.
_LONG_DIGITS = re.compile(rb"(?:^|[\[,:\s])-?\d{19}")
# That regex costs several times orjson's own parse of a 4 kB payload, so a cheap scan comes
# first: every ASCII digit mapped to "0", anything else to ".", then a plain substring search.
# Only a document with some run of 19 digits, anywhere, is then looked at by the regex.
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x2E for byte in range(256))
_NINETEEN_DIGITS = b"0" * 19


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``."""
    return dump_bytes(value).decode()


def dump_bytes(value: Any) -> bytes:
    """Compact JSON of ``value`` as UTF-8 bytes."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def loads(document: bytes | bytearray | memoryview | str) -> Any:
    """The value of a JSON document, exactly as ``json.loads`` reads it (same values, same
    errors: ``json.JSONDecodeError``, or ``UnicodeDecodeError`` for bytes that are not UTF-8)."""
    if isinstance(document, str):
        data: bytes | bytearray = document.encode("utf-8", "surrogatepass")
    elif isinstance(document, memoryview):
        data = document.tobytes()
    else:
        data = document
    if not _may_hold_long_integers(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the standard library decides, and explains
    if isinstance(document, str):
        return json.loads(document)
    return json.loads(bytes(document))


def _may_hold_long_integers(data: bytes | bytearray) -> bool:
    if _NINETEEN_DIGITS not in data.translate(_DIGITS_TO_ZERO):
        return False
    return _LONG_DIGITS.search(data) is not None
