"""The publisher callback: the app's URL template with its macros filled in, signed (client
API §3.1–§3.2).

Both macro schemes publishers know are understood: the legacy one (``[%UID%]``, ``[%VAL%]``,
``[%RAW%]``, …) and the current one (``[%USER:UID%]``, ``[%VALUE:CURRENCY%]``, …), plus the
dashboard's shorthands. A macro we do not know is left exactly as written, and
``unknown_macros`` names it so the CLI can warn when the template is entered.

The hash is HMAC-SHA1 over the URL exactly as the HTTP client will send it (§3.2). The client
rewrites what it sends (it lower-cases the host and percent-encodes spaces and non-ASCII), and
the domain cannot know how, so the caller passes the client's ``normalize``; the URL returned
is that normalized text with ``&hash=`` appended, and sending it unchanged is what makes the
hash verify on the publisher's side.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

from surveyrouter.domain.money import Reward, format_amount

HASH_SEPARATOR = "&hash="
_MACRO = re.compile(r"\[%([A-Z0-9_:]+)%\]")


class CallbackTemplateInvalid(ValueError):
    """A callback template whose signed URL could not reach the publisher intact."""


@dataclass(frozen=True, slots=True)
class CallbackFacts:
    """Everything one callback tells the publisher.

    ``transaction_id`` is unique per callback; a reconciliation carries its own and names the
    complete it reverses in ``reference`` (§3.1). ``fraud_score`` is ``GOOD``, ``MEDIUM`` or
    ``BAD``. A fact that is None fills its macro with nothing.
    """

    user_id: str
    transaction_id: str
    reward: Reward
    app_id: int
    app_token: str
    ip_address: str | None = None
    reference: str | None = None
    reason: str | None = None
    fraud_score: str | None = None


def _user_id(facts: CallbackFacts) -> str:
    return facts.user_id


def _value(facts: CallbackFacts) -> str:
    return format_amount(facts.reward.value)


def _usd(facts: CallbackFacts) -> str:
    return format_amount(facts.reward.usd)


def _ip_address(facts: CallbackFacts) -> str:
    return facts.ip_address or ""


# §3.1: macro set A (legacy), macro set B (current) and the dashboard shorthands name the same
# facts. [%VAL%] is the user's reward in app currency; [%RAW%] the publisher's USD.
_MACROS: Mapping[str, Callable[[CallbackFacts], str]] = {
    "UID": _user_id,
    "USER:UID": _user_id,
    "VAL": _value,
    "VALUE:CURRENCY": _value,
    "CURRENCY:VALUE": _value,
    "RAW": _usd,
    "VALUE:USD": _usd,
    "CURRENCY:USD": _usd,
    "TX": lambda facts: facts.transaction_id,
    "TYPE": lambda facts: facts.reward.kind.value,
    "REF": lambda facts: facts.reference or "",
    "IP": _ip_address,
    "USER:IP_ADDRESS": _ip_address,
    "APP": lambda facts: str(facts.app_id),
    "APP:TOKEN": lambda facts: facts.app_token,
    "REASON": lambda facts: facts.reason or "",
    "FSCORE": lambda facts: facts.fraud_score or "",
}
KNOWN_MACROS = frozenset(f"[%{name}%]" for name in _MACROS)


def unknown_macros(template: str) -> tuple[str, ...]:
    """The macros in ``template`` that a callback leaves as written, once each, in order."""
    found = (match.group(0) for match in _MACRO.finditer(template))
    return tuple(dict.fromkeys(macro for macro in found if macro not in KNOWN_MACROS))


def check_template(template: str) -> None:
    """Refuse a template whose appended ``&hash=`` would not arrive as a query parameter.

    A fragment is never sent, and without a path the hash would become part of the host.
    """
    if any(not character.isprintable() for character in template):
        raise CallbackTemplateInvalid(f"{template!r} holds a control character")
    try:
        parts = urlsplit(template)
        parts.port  # noqa: B018 -- raises for a port that is not a number in range
    except ValueError as error:
        raise CallbackTemplateInvalid(f"{template!r} is not a URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CallbackTemplateInvalid(f"{template!r} is not an absolute http(s) URL")
    if "#" in template:
        raise CallbackTemplateInvalid(f"{template!r} has a fragment, which is never sent")
    if not parts.path and not parts.query:
        raise CallbackTemplateInvalid(f"{template!r} needs a path, e.g. {template}/callback")


def fill_macros(template: str, facts: CallbackFacts) -> str:
    """``template`` with every known macro replaced by its fact, percent-encoded."""

    def substitute(match: re.Match[str]) -> str:
        fact = _MACROS.get(match.group(1))
        if fact is None:
            return match.group(0)
        return quote(fact(facts), safe="")

    return _MACRO.sub(substitute, template)


def callback_hash(url: str, secret: str) -> str:
    """§3.2: lowercase hex HMAC-SHA1 of ``url`` as sent, keyed with the app secret."""
    return hmac.new(secret.encode(), url.encode(), hashlib.sha1).hexdigest()


def _as_written(url: str) -> str:
    return url


def append_parameters(url: str, parameters: Mapping[str, str]) -> str:
    """``url`` with ``parameters`` added to its query, percent-encoded, in order.

    A name the URL's query already has (in any case), or ``hash``, is left out: custom tags
    (§3.1) come from the client, and a second ``val`` or ``uid`` after the template's own
    would let a client change what a publisher reading the last value credits, under a valid
    hash. (``domain.tags`` also refuses the callback's usual names as tag keys, for templates
    that carry their facts in the path.)
    """
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    # Case-blind: some publishers' frameworks read VAL and val as one parameter.
    taken = {name.lower() for name, _ in query}
    taken.add(HASH_SEPARATOR.strip("&="))
    added = [
        f"{quote(name, safe='')}={quote(value, safe='')}"
        for name, value in parameters.items()
        if name.lower() not in taken
    ]
    if not added:
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{'&'.join(added)}"


def build_callback_url(
    template: str,
    facts: CallbackFacts,
    secret: str,
    *,
    normalize: Callable[[str], str] = _as_written,
    extra_parameters: Mapping[str, str] | None = None,
) -> str:
    """The signed callback URL, to be sent exactly as returned.

    ``normalize`` is the HTTP client's own rewriting of a URL; the hash covers its result.
    ``extra_parameters`` (a click's custom tags) are appended to the query before the hash,
    so it covers them (``append_parameters``).
    §3.2: ``&hash=`` is appended with ``&`` even when the template has no ``?``.
    """
    check_template(template)
    filled = fill_macros(template, facts)
    if extra_parameters:
        filled = append_parameters(filled, extra_parameters)
    sent = normalize(filled)
    signed = f"{sent}{HASH_SEPARATOR}{callback_hash(sent, secret)}"
    if normalize(signed) != signed:
        # The client would rewrite the URL again on sending, and the hash would not verify.
        raise CallbackTemplateInvalid(f"{template!r} is not sent as it is signed")
    return signed


def verify_callback(url: str, secret: str) -> bool:
    """Whether ``url`` carries the hash of everything before its last ``&hash=`` (§3.2)."""
    signed, separator, given = url.rpartition(HASH_SEPARATOR)
    if not separator:
        return False
    expected = callback_hash(signed, secret)
    return hmac.compare_digest(expected.encode(), given.encode())


ERASED_URL_MARK = "[erased]"


def redacted_callback_url(url: str) -> str:
    """What is kept of a sent callback URL once its user is erased: the publisher's scheme,
    host and port, which name nobody. The path, query and fragment go: the macros put the uid,
    the IP address and custom tags there (a template may carry them in the path too)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:  # not a port: it cannot be kept apart from what it might carry
        port = ""
    return f"{parts.scheme}://{host}{port}/{ERASED_URL_MARK}"
