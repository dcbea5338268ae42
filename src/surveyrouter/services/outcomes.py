"""Recording how a click ended, and where the user goes next.

The exchange tells us twice: the user's signed redirect back and its server-to-server
callback, in either order, maybe more than once. ``record_outcome`` takes each in one
transaction: the first ends the click and pays (ledger entry and publisher callback together),
every later one changes nothing and reports what the first recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.apps import App
from surveyrouter.domain.callbacks import CallbackFacts, fill_macros
from surveyrouter.domain.clicks import Click, ClickStatus, OutcomeSource
from surveyrouter.domain.money import Reward, RewardKind, reward_return
from surveyrouter.domain.users import User
from surveyrouter.networks.rex.gateway import Disposition
from surveyrouter.services.rewards import MAX_TRANSACTION_ID, as_the_app_shows, record_reward
from surveyrouter.store.apps import get_app
from surveyrouter.store.clicks import end_click, get_click
from surveyrouter.store.db import transaction
from surveyrouter.store.ledger import get_entry
from surveyrouter.store.users import user_by_id

# A redirect after an ending that pays nothing has no [%TYPE%] (a fact that is None fills
# its macro with nothing, as in a callback) and zero amounts.
_TYPE_MACRO = "[%TYPE%]"


class ClickNotFound(LookupError):
    """No click has that id (or not on the network that names it)."""


class UserErased(ClickNotFound):
    """The click's user was erased at the publisher's request: there is no one to pay."""


class RespondentMismatch(ValueError):
    """The exchange names another respondent than the one the click sent."""


@dataclass(frozen=True, slots=True)
class ClickOutcome:
    """A click as it stands, with its app, its user and what it paid (None: nothing)."""

    click: Click
    reward: Reward | None
    app: App
    user: User


@dataclass(frozen=True, slots=True)
class OutcomeRecorded:
    """``first``: this call ended the click. Otherwise ``click`` and ``reward`` are what the
    first outcome recorded."""

    click: Click
    reward: Reward | None
    first: bool
    app: App
    user: User


def record_outcome(
    sessions: sessionmaker[Session],
    click_id: str,
    disposition: Disposition,
    source: OutcomeSource,
    at: datetime,
    *,
    ip_address: str | None = None,
    network_id: str | None = None,
    respondent_id: str | None = None,
) -> OutcomeRecorded:
    """End the click with ``disposition`` and pay what it earns, unless it has ended already.

    ``network_id`` and ``respondent_id``, when given, are what the exchange's message says
    the click is: a click on another network is ``ClickNotFound``, another respondent
    ``RespondentMismatch``, a click of an erased user ``UserErased`` (a ``ClickNotFound``),
    all checked before anything is written.
    """
    _check_click_id(click_id)
    with transaction(sessions) as session:
        click = get_click(session, click_id, for_update=True)
        if click is None or (network_id is not None and click.network_id != network_id):
            raise ClickNotFound(f"no click has id {click_id!r}")
        user = user_by_id(session, click.user_id)
        if user.erased_at is not None:
            # A return link stays valid for hours; the user it would pay is gone.
            raise UserErased(f"click {click_id!r} belongs to an erased user")
        if respondent_id is not None and respondent_id != user.respondent_id:
            raise RespondentMismatch(f"click {click_id!r} was not sent as that respondent")
        app = get_app(session, click.app_id)
        first = end_click(
            session,
            click.id,
            ClickStatus.of(disposition.outcome),
            disposition.disposition,
            disposition.status,
            source,
            at,
        )
        if first:
            reward = reward_return(
                disposition.disposition,
                disposition.status,
                click_cpi=click.exchange_cpi,
                revenue_share=app.revenue_share,
                currency=app.currency,
                screenout_reward=app.screenout_reward,
            )
            if reward is not None:
                # Client API §3.1: a v2 click's custom tags come back in its callback.
                record_reward(
                    session,
                    app,
                    user,
                    reward,
                    click.id,
                    at,
                    ip_address=ip_address,
                    extra_parameters=click.tags,
                )
        else:
            reward = _recorded_reward(session, app, click.id)
        ended = get_click(session, click.id)
        assert ended is not None  # locked, and clicks are never deleted
        return OutcomeRecorded(ended, reward, first, app, user)


def click_outcome(sessions: sessionmaker[Session], click_id: str) -> ClickOutcome:
    """The click ``click_id`` as it stands (raises ``ClickNotFound``)."""
    _check_click_id(click_id)
    with sessions() as session:
        click = get_click(session, click_id)
        if click is None:
            raise ClickNotFound(f"no click has id {click_id!r}")
        app = get_app(session, click.app_id)
        reward = _recorded_reward(session, app, click.id)
        return ClickOutcome(click, reward, app, user_by_id(session, click.user_id))


def redirect_after(app: App, user: User, click: Click, reward: Reward | None) -> str | None:
    """Where the app wants its user sent after this ending (client API §3.3), its macros
    filled as in a callback; None when the app has no URL for it (our result page then).

    A complete goes to the complete URL, a screenout or over-quota (rewarded or not) to the
    screenout URL, any other ending to the termination URL.
    """
    if click.status is ClickStatus.COMPLETE:
        template = app.redirects.complete
    elif click.status.is_screened_out:
        template = app.redirects.screenout
    else:
        template = app.redirects.termination
    if template is None or app.id is None:
        return None
    if reward is None:
        template = template.replace(_TYPE_MACRO, "")
    facts = CallbackFacts(
        user_id=user.uid,
        transaction_id=click.id,
        reward=reward or Reward(RewardKind.SCREENOUT, Decimal(0), Decimal(0)),
        app_id=app.id,
        app_token=app.api_token,
    )
    return fill_macros(template, facts)


def _check_click_id(click_id: str) -> None:
    # A click id is also a transaction id: letters and digits, at most 64 (client API §3.1).
    # Anything else names no click, and is never sent to the database (PostgreSQL refuses a
    # NUL in text with an error, not a miss).
    if not (0 < len(click_id) <= MAX_TRANSACTION_ID and click_id.isascii() and click_id.isalnum()):
        raise ClickNotFound(f"no click has id {click_id!r}")


def _recorded_reward(session: Session, app: App, transaction_id: str) -> Reward | None:
    """The reward the ledger holds for the click, rounded as the app shows it, as it was
    when first recorded (the ledger keeps amounts without trailing zeros)."""
    entry = get_entry(session, transaction_id)
    return None if entry is None else as_the_app_shows(entry.reward, app)
