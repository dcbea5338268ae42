"""Custom tags: key–value pairs a publisher's app attaches to a v2 survey listing, which come
back as query parameters in the callback of a reward from it (client API §2.1, §3.1).

The rules are BitLabs': at most ten pairs, keys and values trimmed and lower-cased and at most
50 characters, keys letters, digits and underscores. The callback's own parameter names are
refused as keys too (``hash``, the signature, and the names publishers' templates use for
the facts: a second ``val`` under a valid hash could change what a publisher credits), and so
are control characters in values (they cannot be stored or sent).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from urllib.parse import parse_qsl

MAX_TAGS = 10
MAX_TAG_LENGTH = 50
RESERVED_KEYS = frozenset(
    {"hash", "uid", "val", "raw", "tx", "type", "ref", "ip", "app", "reason", "fscore", "debug"}
)
_KEY = re.compile(r"[a-z0-9_]+")

Tags = Mapping[str, str]
NO_TAGS: Tags = MappingProxyType({})


class TagsInvalid(ValueError):
    """A tags parameter that breaks a rule; the message names it."""


def parse_tags(query: str | None) -> Tags:
    """The tags in ``query`` (a URL-encoded query, ``k=v&k2=v2``), normalized, in order.

    Raises ``TagsInvalid`` naming the first rule broken; a key given twice is one, since
    either value would be a guess.
    """
    if query is None or not query.strip():
        return NO_TAGS
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError as error:
        raise TagsInvalid(f"tags must be a URL-encoded query such as k=v&k2=v2 ({error})") from None
    return normalized_tags(pairs)


def normalized_tags(pairs: Iterable[tuple[str, str]]) -> Tags:
    """``pairs`` as tags: trimmed, lower-cased and checked (``check_tag``), in order. Raises
    ``TagsInvalid`` naming the first rule broken, a key given twice (after lower-casing)
    included."""
    tags: dict[str, str] = {}
    for count, (raw_key, raw_value) in enumerate(pairs, start=1):
        if count > MAX_TAGS:
            raise TagsInvalid(f"at most {MAX_TAGS} tags are allowed")
        key, value = raw_key.strip().lower(), raw_value.strip().lower()
        check_tag(key, value)
        if key in tags:
            raise TagsInvalid(f"tag key {key!r} is given twice")
        tags[key] = value
    return MappingProxyType(tags)


def check_tag(key: str, value: str) -> None:
    """Raise ``TagsInvalid`` unless ``key`` and ``value`` (normalized) keep the rules."""
    if not _KEY.fullmatch(key):
        raise TagsInvalid(
            f"tag key {key!r} may only contain letters, digits and underscores (a-z, 0-9, _)"
        )
    if key in RESERVED_KEYS:
        raise TagsInvalid(f"tag key {key!r} is reserved: the callback uses it itself")
    if any(not character.isprintable() for character in value):
        raise TagsInvalid(f"tag {key!r}: the value holds a control character")
    for part, text in (("key", key), ("value", value)):
        if len(text) > MAX_TAG_LENGTH:
            raise TagsInvalid(
                f"tag {part} {text[:20]!r}… is longer than {MAX_TAG_LENGTH} characters"
            )


def merge_tags(listed: Tags, clicked: Tags) -> Tags:
    """The listing's tags with the click's added (a key the click names again takes the
    click's value); together they keep the limit of ``MAX_TAGS``."""
    merged = {**listed, **clicked}
    if len(merged) > MAX_TAGS:
        raise TagsInvalid(
            f"at most {MAX_TAGS} tags are allowed, the listing's and the click's together; "
            f"got {len(merged)}"
        )
    return MappingProxyType(merged)
