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
from typing import Any

import orjson

# 2**63 has 19 digits: any integer orjson could read as a float has at least as many. A number
# starts at the start of the document or after a structural character or whitespace (and its
# sign), which a digit run inside a string mostly does not: hex ids and hashes, common in
# exchange payloads, stay fast. The scan maps every ASCII digit to "0" and anything else to ".",
# then looks only at the runs of 19 or more: a regex over the whole document cost several times
# orjson's own parse.
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x2E for byte in range(256))
_NINETEEN_DIGITS = b"0" * 19
_BEFORE_A_NUMBER = frozenset(b"[,: \t\n\r\f\v")
_MINUS = 0x2D


def encoded(document: bytes) -> orjson.Fragment:
    """A JSON document already written (an exchange's payload as it came), which ``dumps``
    and ``dump_bytes`` copy as it is instead of reading and writing it again."""
    return orjson.Fragment(document)


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
    r"""Whether a run of 19 or more digits starts where a JSON number could start (what the
    regex ``(?:^|[\[,:\s])-?\d{19}`` finds, as the tests pin it)."""
    digits = data.translate(_DIGITS_TO_ZERO)
    run = digits.find(_NINETEEN_DIGITS)
    while run != -1:
        # ``run`` is where a run of digits begins: the byte before it is not a digit.
        before = run - 1
        if before >= 0 and data[before] == _MINUS:
            before -= 1
        if before < 0 or data[before] in _BEFORE_A_NUMBER:
            return True
        end = digits.find(b".", run)
        if end == -1:
            return False
        run = digits.find(_NINETEEN_DIGITS, end)
    return False
