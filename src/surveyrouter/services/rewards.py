"""Recording rewards: the ledger entry and its callback in one transaction, and reversals.

Everything the money path pays goes through ``record_reward``: the entry and the outbox
callback are written together or not at all, keyed by the transaction id, so a replay (the
exchange's redirect and its callback both arriving, a retried request) adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import httpx
from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.apps import App
from surveyrouter.domain.callbacks import CallbackFacts, CallbackTemplateInvalid, build_callback_url
from surveyrouter.domain.money import (
    CENT,
    NotReconcilable,
    Reward,
    RewardKind,
    padded,
    reconcile,
)
from surveyrouter.domain.users import User
from surveyrouter.store.apps import get_app
from surveyrouter.store.clicks import get_click
from surveyrouter.store.db import transaction
from surveyrouter.store.ledger import add_entry, get_entry
from surveyrouter.store.outbox import enqueue_callback
from surveyrouter.store.users import user_by_id

log = logging.getLogger(__name__)

# A reversal's transaction id: the original's with this prefix (BitLabs: "or" for "o"), so
# reversing the same complete twice is one reversal.
REVERSAL_PREFIX = "r"
MAX_TRANSACTION_ID = 64


# The start bonus is paid once per user (client API §3.5): its transaction id names the user,
# so a second payment is a replay the ledger refuses.
START_BONUS_PREFIX = "sb"


def start_bonus_transaction_id(user_id: int) -> str:
    return f"{START_BONUS_PREFIX}{user_id}"


def start_bonus_paid(session: Session, user_id: int) -> bool:
    """Whether the user's start bonus is in the ledger (it is paid once, ever)."""
    return get_entry(session, start_bonus_transaction_id(user_id)) is not None


class TransactionNotFound(LookupError):
    """No ledger entry has that transaction id."""


def as_sent(url: str) -> str:
    """``url`` as httpx will put it on the wire (host lower-cased, spaces and non-ASCII
    percent-encoded): the text the callback hash must cover. Raises ``httpx.InvalidURL`` for
    one httpx cannot send, a malformed IDNA host (``xn--a.com``) included: httpx takes those
    until it decodes the host to connect."""
    parsed = httpx.URL(url)
    try:
        parsed.host  # noqa: B018  (decoding it is the check)
    except UnicodeError as error:  # idna's errors
        raise httpx.InvalidURL(f"invalid host: {error}") from None
    return str(parsed)


@dataclass(frozen=True, slots=True)
class Recorded:
    """``recorded`` is False for a replay: the transaction was already in the ledger."""

    transaction_id: str
    reward: Reward
    recorded: bool
    callback_queued: bool


def record_reward(
    session: Session,
    app: App,
    user: User,
    reward: Reward,
    transaction_id: str,
    at: datetime,
    *,
    ip_address: str | None = None,
    reference: str | None = None,
    reason: str | None = None,
    extra_parameters: Mapping[str, str] | None = None,
) -> Recorded:
    """Write ``reward`` to the ledger and, when the app has a callback URL, its callback to
    the outbox, in the caller's transaction. Nothing is added for a transaction id already
    recorded. ``extra_parameters`` (the click's custom tags, client API §3.1) are added to
    the callback's query, under its hash."""
    if app.id is None or user.app_id != app.id:
        raise ValueError("the user does not belong to this app")
    if not 0 < len(transaction_id) <= MAX_TRANSACTION_ID or not transaction_id.isalnum():
        # Client API §3.1: publishers must accept alphanumeric transaction ids, no more.
        raise ValueError(f"transaction id {transaction_id!r} is not 1–64 letters and digits")
    written = add_entry(
        session, app.id, user.id, transaction_id, reward, at, reference=reference, reason=reason
    )
    queued = False
    if written and app.callback_url:
        facts = CallbackFacts(
            user_id=user.uid,
            transaction_id=transaction_id,
            reward=reward,
            app_id=app.id,
            app_token=app.api_token,
            ip_address=ip_address,
            reference=reference,
            reason=reason,
        )
        try:
            url = build_callback_url(
                app.callback_url,
                facts,
                app.secret,
                normalize=as_sent,
                extra_parameters=extra_parameters,
            )
        except httpx.InvalidURL:
            # Saving such a URL is refused (check_sendable); one saved before that was checked
            # must not cost the user the reward too: it is paid, the publisher not called back.
            log.error(
                "callback not queued: the app's callback URL is not one httpx can send",
                extra={"app_id": app.id, "transaction_id": transaction_id},
                exc_info=True,
            )
        else:
            queued = enqueue_callback(session, app.id, transaction_id, reward.kind.value, url, at)
    return Recorded(transaction_id, reward, recorded=written, callback_queued=queued)


# What a check of a callback template fills its macros with: a real callback's shapes.
_SAMPLE_FACTS = CallbackFacts(
    user_id="sample-user",
    transaction_id="0123456789abcdef0123456789abcdef",
    reward=Reward(RewardKind.COMPLETE, Decimal("1.72"), Decimal("860")),
    app_id=1,
    app_token="00000000-0000-0000-0000-000000000000",
    ip_address="203.0.113.7",
    reference="0123456789abcdef0123456789abcdef",
    reason="sample",
    fraud_score="GOOD",
)


def check_sendable(template: str) -> None:
    """Raises ``CallbackTemplateInvalid`` unless a callback built from ``template`` is a URL
    httpx can send (``urlsplit`` takes hosts httpx refuses, such as ``exämple..com``)."""
    try:
        build_callback_url(template, _SAMPLE_FACTS, "sample-secret", normalize=as_sent)
    except httpx.InvalidURL as error:
        raise CallbackTemplateInvalid(
            f"{template!r} is not a URL httpx can send: {error}"
        ) from None


def reverse_complete(
    sessions: sessionmaker[Session],
    transaction_id: str,
    reason: str,
    clock: Callable[[], datetime],
    *,
    along: Callable[[Session], None] | None = None,
) -> Recorded:
    """Reverse the complete ``transaction_id``: a negative entry with its own transaction id
    and a RECONCILIATION callback whose REF is the original (client API §3.7). Reversing it
    again changes nothing. ``along`` writes what goes with a reversal made now (the
    dashboard's activity record) in its transaction, so the two commit together. Raises
    ``TransactionNotFound`` or ``NotReconcilable``."""
    if not reason.strip():
        raise ValueError("a reversal needs a reason")
    with transaction(sessions) as session:
        original = get_entry(session, transaction_id)
        if original is None:
            raise TransactionNotFound(f"no ledger entry has transaction id {transaction_id!r}")
        if original.reward.kind is not RewardKind.COMPLETE:
            raise NotReconcilable(
                f"{transaction_id} is a {original.reward.kind.value}; only completes are reversed"
            )
        app = get_app(session, original.app_id)
        reversal = as_the_app_shows(reconcile(original.reward), app)
        # A complete's transaction id is its click's id: the reversal carries the click's
        # custom tags too, so a publisher attributing by tag can match the two.
        click = get_click(session, transaction_id)
        recorded = record_reward(
            session,
            app,
            user_by_id(session, original.user_id),
            reversal,
            _reversal_id(transaction_id),
            clock(),
            reference=transaction_id,
            reason=reason.strip(),
            extra_parameters=None if click is None else click.tags,
        )
        if recorded.recorded and along is not None:
            along(session)
        return recorded


def _reversal_id(transaction_id: str) -> str:
    reversal = REVERSAL_PREFIX + transaction_id
    if len(reversal) > MAX_TRANSACTION_ID:
        raise NotReconcilable(f"{transaction_id} is too long to take the reversal prefix")
    return reversal


def as_the_app_shows(reward: Reward, app: App) -> Reward:
    """``reward`` with its amounts written to the places the app shows (the ledger keeps
    amounts without trailing zeros: 1.50 reads back as 1.5), never rounded to them: a complete
    paid 13.5 before the app turned to whole units is shown, and reversed, as 13.5."""
    places = Decimal(1) if app.currency.whole_units else CENT
    return Reward(reward.kind, padded(reward.usd, CENT), padded(reward.value, places))
