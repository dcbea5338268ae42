"""What a publisher earns and what its user is paid, in exact decimals (client API §3.4–§3.7).

Two amounts travel together. ``usd`` is the publisher's revenue in USD, to the cent: the
callback's ``[%RAW%]`` and what the ledger records. ``value`` is the user's reward in the app's
currency (``[%VAL%]``): the USD amount times the app's currency factor, raised by its bonus, then
rounded down to whole units or half up to two decimals, as the app shows it.

Amounts are ``Decimal`` and nothing else: a float is refused with ``TypeError`` wherever it
could enter, since a float cannot hold a cent exactly. Arithmetic runs in a context of its own,
so a caller's decimal context never changes what anybody is paid.
"""

from __future__ import annotations

import decimal
import enum
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from surveyrouter.domain.apps import Currency

CENT = Decimal("0.01")
# No survey pays more for a complete; an exchange's price above it is a broken payload. It keeps
# every reward the app settings allow (a factor under 10^8, a bonus up to 1000 %) under the
# store's 10^14 (column_types.Money).
MAX_CPI_USD = Decimal(10_000)
_WHOLE = Decimal(1)
# Products are exact (an amount too long for 28 digits raises rather than rounds), so the only
# rounding is the explicit quantize to what is paid. Own contexts: a caller's never applies.
_EXACT = decimal.Context(
    prec=28,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, decimal.Inexact],
)
_ROUNDING = decimal.Context(
    prec=28,
    rounding=ROUND_HALF_UP,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)

# REX §6.5: a complete is disposition 1 with any status (1.1 is a partial complete). Of the
# other endings only the client's own disqualification and over-quota may pay, and only as a
# screenout reward; Dynata's terminations (2.1, 2.3–2.10, 3.x but 3.2) pay nothing.
_COMPLETE_DISPOSITION = 1
_CLIENT_SCREENOUTS = frozenset({(2, 2), (3, 2)})


class RewardKind(enum.Enum):
    """What a reward is for, spelled as the callback's ``[%TYPE%]`` (client API §3.1)."""

    COMPLETE = "COMPLETE"
    SCREENOUT = "SCREENOUT"
    START_BONUS = "START_BONUS"
    RECONCILIATION = "RECONCILIATION"


@dataclass(frozen=True, slots=True)
class Reward:
    """One payment to a user: ``usd`` to the publisher (to the cent), ``value`` to the user in
    app currency, already rounded as the app shows it. Both are negative in a reconciliation."""

    kind: RewardKind
    usd: Decimal
    value: Decimal

    def __post_init__(self) -> None:
        _require_decimal("usd", self.usd)
        _require_decimal("value", self.value)


class NotReconcilable(ValueError):
    """Only a complete can be reversed (client API §3.7)."""


def publisher_cpi(exchange_cpi: Decimal, revenue_share: Decimal) -> Decimal:
    """The publisher's share of the exchange's CPI, in USD to the cent, rounded half up."""
    _require_amount("exchange_cpi", exchange_cpi)
    _require_decimal("revenue_share", revenue_share)
    if not Decimal(0) < revenue_share <= Decimal(1):
        raise ValueError(f"revenue_share must be more than 0 and at most 1, not {revenue_share}")
    return _to_cent(_EXACT.multiply(exchange_cpi, revenue_share))


def user_value(usd: Decimal, currency: Currency) -> Decimal:
    """What ``usd`` of publisher revenue is worth to the user in the app's currency (§3.4).

    ``usd × factor × (1 + bonus_percent / 100)``, rounded down to whole units when the app
    hides decimals (the user may get 0), else rounded half up to two decimals.
    """
    _require_amount("usd", usd)
    _require_amount("currency factor", currency.factor)
    bonus = currency.bonus_percent
    if isinstance(bonus, bool) or not isinstance(bonus, int):
        raise TypeError(f"bonus_percent must be a whole number of percent, not {bonus!r}")
    raised = _EXACT.multiply(_EXACT.multiply(usd, currency.factor), Decimal(100 + bonus))
    return _round_as_shown(_EXACT.divide(raised, Decimal(100)), currency)


def format_amount(amount: Decimal) -> str:
    """``amount`` as plain decimal text, never with an exponent: "172", "1.50", "-0.84"."""
    _require_decimal("amount", amount)
    if amount.is_zero():
        amount = amount.copy_abs()  # a reversed zero is still "0", not "-0"
    return format(amount, "f")


def reward_return(
    disposition: int,
    status: int,
    *,
    click_cpi: Decimal,
    revenue_share: Decimal,
    currency: Currency,
    screenout_reward: Decimal | None,
) -> Reward | None:
    """What a respondent's return from the exchange pays, or None when it pays nothing.

    ``click_cpi`` is the exchange's CPI when the user clicked: that is what the complete pays,
    whatever the exchange changes later. ``screenout_reward`` is the app's USD reward for a
    client disqualification or over-quota (None or 0: those pay nothing); it is the publisher's
    own money, so the revenue share does not apply to it.
    """
    if disposition == _COMPLETE_DISPOSITION:
        usd = publisher_cpi(click_cpi, revenue_share)
        return Reward(RewardKind.COMPLETE, usd, user_value(usd, currency))
    if (disposition, status) in _CLIENT_SCREENOUTS and screenout_reward is not None:
        _require_amount("screenout_reward", screenout_reward)
        usd = _to_cent(screenout_reward)
        if usd > 0:
            return Reward(RewardKind.SCREENOUT, usd, user_value(usd, currency))
    return None


def reward_start_bonus(
    reward: Decimal | None,
    currency: Currency,
    *,
    questions_required: int,
    questions_answered: int,
    already_paid: bool,
) -> Reward | None:
    """The start bonus the user has earned by answering the app's profile questions (§3.5).

    It is paid once, when ``questions_answered`` reaches ``questions_required`` (> 0). The
    ``reward`` is in app currency units, rounded as the app shows it; its USD is 0 because the
    publisher pays it, not the exchange.
    """
    if reward is None or already_paid or questions_required <= 0:
        return None
    if questions_answered < questions_required:
        return None
    _require_amount("reward", reward)
    value = _round_as_shown(reward, currency)
    if value <= 0:
        return None
    return Reward(RewardKind.START_BONUS, Decimal("0.00"), value)


def reconcile(complete: Reward) -> Reward:
    """The reversal of a complete: the same amounts, negative (client API §3.7)."""
    if complete.kind is not RewardKind.COMPLETE:
        raise NotReconcilable(f"a {complete.kind.value} reward cannot be reconciled")
    return Reward(
        RewardKind.RECONCILIATION, complete.usd.copy_negate(), complete.value.copy_negate()
    )


def padded(amount: Decimal, places: Decimal) -> Decimal:
    """``amount`` written to ``places`` (1.5 → 1.50) where that changes no digit, else as it
    is: an amount paid under other settings (decimals, before the app showed whole units)
    keeps every digit it was paid with."""
    _require_decimal("amount", amount)
    try:
        return amount.quantize(places, context=_EXACT)
    except decimal.Inexact:  # more digits than ``places``: rounding would change the amount
        return amount


def _to_cent(usd: Decimal) -> Decimal:
    return usd.quantize(CENT, rounding=ROUND_HALF_UP, context=_ROUNDING)


def _round_as_shown(value: Decimal, currency: Currency) -> Decimal:
    if currency.whole_units:
        return value.quantize(_WHOLE, rounding=ROUND_FLOOR, context=_ROUNDING)
    return value.quantize(CENT, rounding=ROUND_HALF_UP, context=_ROUNDING)


def _require_decimal(name: str, value: object) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{name} is a float ({value!r}); money must be a Decimal")
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite amount, not {value}")
    return value


def _require_amount(name: str, value: object) -> None:
    if _require_decimal(name, value) < 0:
        raise ValueError(f"{name} must not be negative, not {value}")
