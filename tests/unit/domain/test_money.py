"""What a publisher earns and a user is paid (client API §3.4–§3.7, REX §6.5 dispositions)."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveyrouter.domain.apps import Currency
from surveyrouter.domain.money import (
    CENT,
    NotReconcilable,
    Reward,
    RewardKind,
    format_amount,
    padded,
    publisher_cpi,
    reconcile,
    reward_return,
    reward_start_bonus,
    user_value,
)

POINTS = Currency(factor=Decimal(100))  # whole units: "172"
DOLLARS = Currency(factor=Decimal(1), whole_units=False, symbol="${value}")
SHARE = Decimal("0.7")

# REX §6.5 (disposition, status) pairs, spelled out so the numbers themselves are pinned.
COMPLETE, PARTIAL_COMPLETE = (1, 0), (1, 1)
CLIENT_DISQUALIFICATION, CLIENT_OVER_QUOTA = (2, 2), (3, 2)
DYNATA_DISQUALIFICATION, FILTER_DISQUALIFICATION, DYNATA_OVER_QUOTA = (2, 1), (2, 6), (3, 1)
UNKNOWN, DUPLICATE, SPEEDING = (0, 0), (4, 1), (5, 2)

cents = st.decimals(min_value=0, max_value=1000, places=2)
factors = st.decimals(min_value=Decimal("0.0001"), max_value=100_000, places=4)
bonuses = st.integers(min_value=0, max_value=1000)
shares = st.decimals(min_value=Decimal("0.0001"), max_value=1, places=4)


def returned(
    pair: tuple[int, int],
    *,
    click_cpi: Decimal = Decimal("2.00"),
    currency: Currency = POINTS,
    screenout_reward: Decimal | None = None,
) -> Reward | None:
    disposition, status = pair
    return reward_return(
        disposition,
        status,
        click_cpi=click_cpi,
        revenue_share=SHARE,
        currency=currency,
        screenout_reward=screenout_reward,
    )


def test_the_publisher_earns_its_share_of_the_cpi_to_the_cent_rounding_half_up() -> None:
    assert publisher_cpi(Decimal("1.72"), SHARE) == Decimal("1.20")  # 1.204
    assert publisher_cpi(Decimal("1.65"), SHARE) == Decimal("1.16")  # 1.155, half up
    assert publisher_cpi(Decimal("0.05"), Decimal("0.5")) == Decimal("0.03")  # 0.025
    assert str(publisher_cpi(Decimal(3), Decimal(1))) == "3.00"


def test_the_docs_example_cpi_of_1_72_is_worth_172_at_factor_100() -> None:
    # Client API §3.4: cpi 1.72 → value 172 with factor 100.
    assert format_amount(user_value(Decimal("1.72"), POINTS)) == "172"


def test_hidden_decimals_always_round_down_even_to_zero() -> None:
    assert user_value(Decimal("1.99"), Currency(factor=Decimal(1))) == Decimal(1)
    assert user_value(Decimal("0.99"), Currency(factor=Decimal(1))) == Decimal(0)


def test_shown_decimals_round_half_up_to_two_places() -> None:
    currency = Currency(factor=Decimal("0.5"), whole_units=False)
    assert format_amount(user_value(Decimal("0.03"), currency)) == "0.02"  # 0.015
    assert format_amount(user_value(Decimal("3.00"), currency)) == "1.50"


def test_the_bonus_percent_raises_the_value_before_rounding() -> None:
    boosted = Currency(factor=Decimal(100), bonus_percent=50)
    assert user_value(Decimal("1.01"), boosted) == Decimal(151)  # 151.5, floored
    assert user_value(Decimal("1.01"), Currency(factor=Decimal(100), bonus_percent=0)) == 101


def test_a_complete_pays_the_cpi_at_the_click_whatever_the_exchange_says_later() -> None:
    reward = returned(COMPLETE, click_cpi=Decimal("1.72"))
    assert reward == Reward(RewardKind.COMPLETE, Decimal("1.20"), Decimal(120))


def test_a_partial_complete_is_a_complete() -> None:
    paid = returned(PARTIAL_COMPLETE)
    assert paid is not None
    assert paid.kind is RewardKind.COMPLETE


@pytest.mark.parametrize("pair", [CLIENT_DISQUALIFICATION, CLIENT_OVER_QUOTA])
def test_a_client_screenout_pays_the_apps_screenout_reward_without_revenue_share(
    pair: tuple[int, int],
) -> None:
    reward = returned(pair, screenout_reward=Decimal("0.05"))
    assert reward == Reward(RewardKind.SCREENOUT, Decimal("0.05"), Decimal(5))


def test_a_screenout_reward_is_paid_to_the_cent() -> None:
    reward = returned(CLIENT_DISQUALIFICATION, screenout_reward=Decimal("0.0105"), currency=DOLLARS)
    assert reward == Reward(RewardKind.SCREENOUT, Decimal("0.01"), Decimal("0.01"))


@pytest.mark.parametrize("screenout_reward", [None, Decimal(0), Decimal("0.004")])
@pytest.mark.parametrize("pair", [CLIENT_DISQUALIFICATION, CLIENT_OVER_QUOTA])
def test_a_client_screenout_pays_nothing_unless_the_app_rewards_screenouts(
    pair: tuple[int, int], screenout_reward: Decimal | None
) -> None:
    assert returned(pair, screenout_reward=screenout_reward) is None


@pytest.mark.parametrize(
    "pair",
    [
        DYNATA_DISQUALIFICATION,
        FILTER_DISQUALIFICATION,
        DYNATA_OVER_QUOTA,
        (3, 20),
        UNKNOWN,
        DUPLICATE,
        SPEEDING,
        (6, 0),  # a disposition added after we were written
        (2, 99),  # a status added after we were written
    ],
)
def test_the_exchanges_own_terminations_and_other_endings_pay_nothing(
    pair: tuple[int, int],
) -> None:
    assert returned(pair, screenout_reward=Decimal("0.05")) is None


def test_the_start_bonus_is_paid_once_the_questions_are_answered_in_app_currency() -> None:
    def bonus(answered: int, *, already_paid: bool = False) -> Reward | None:
        return reward_start_bonus(
            Decimal(50),
            POINTS,
            questions_required=3,
            questions_answered=answered,
            already_paid=already_paid,
        )

    assert bonus(2) is None
    assert bonus(3) == Reward(RewardKind.START_BONUS, Decimal("0.00"), Decimal(50))
    assert bonus(4) == bonus(3)
    assert bonus(3, already_paid=True) is None


@pytest.mark.parametrize(
    ("reward", "required"), [(None, 3), (Decimal(0), 3), (Decimal("0.5"), 3), (Decimal(50), 0)]
)
def test_no_start_bonus_without_a_reward_or_questions(
    reward: Decimal | None, required: int
) -> None:
    # 0.5 points is shown as 0 in whole units, and a start bonus of 0 is no start bonus.
    assert (
        reward_start_bonus(
            reward, POINTS, questions_required=required, questions_answered=5, already_paid=False
        )
        is None
    )


def test_the_start_bonus_is_rounded_as_the_app_shows_its_currency() -> None:
    paid = reward_start_bonus(
        Decimal("12.345"), DOLLARS, questions_required=1, questions_answered=1, already_paid=False
    )
    assert paid is not None
    assert format_amount(paid.value) == "12.35"
    assert format_amount(paid.usd) == "0.00"


def test_a_reconciliation_reverses_a_complete_with_negative_amounts() -> None:
    complete = Reward(RewardKind.COMPLETE, Decimal("1.20"), Decimal(120))
    reversal = reconcile(complete)
    assert reversal == Reward(RewardKind.RECONCILIATION, Decimal("-1.20"), Decimal(-120))
    assert (format_amount(reversal.usd), format_amount(reversal.value)) == ("-1.20", "-120")


@pytest.mark.parametrize("kind", [RewardKind.SCREENOUT, RewardKind.START_BONUS])
def test_only_a_complete_can_be_reconciled(kind: RewardKind) -> None:
    with pytest.raises(NotReconcilable):
        reconcile(Reward(kind, Decimal("0.05"), Decimal(5)))
    with pytest.raises(NotReconcilable):
        reconcile(reconcile(Reward(RewardKind.COMPLETE, Decimal(1), Decimal(1))))


def test_a_reversed_zero_is_shown_as_zero() -> None:
    reversal = reconcile(Reward(RewardKind.COMPLETE, Decimal("0.00"), Decimal(0)))
    assert (format_amount(reversal.usd), format_amount(reversal.value)) == ("0.00", "0")


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal(172), "172"),
        (Decimal("1.50"), "1.50"),
        (Decimal("1E+3"), "1000"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("-0.84"), "-0.84"),
    ],
)
def test_amounts_are_written_without_an_exponent(amount: Decimal, text: str) -> None:
    assert format_amount(amount) == text


@pytest.mark.parametrize(
    ("call", "arguments"),
    [
        (publisher_cpi, (1.72, SHARE)),
        (publisher_cpi, (Decimal("1.72"), 0.7)),
        (user_value, (1.2, POINTS)),
        (user_value, (Decimal("1.2"), Currency(factor=100.0))),  # type: ignore[arg-type]
        (format_amount, (1.5,)),
        (lambda cpi: returned(COMPLETE, click_cpi=cpi), (2.0,)),
        (lambda so: returned(CLIENT_DISQUALIFICATION, screenout_reward=so), (0.05,)),
        (lambda kind: Reward(kind, 1.2, Decimal(1)), (RewardKind.COMPLETE,)),  # type: ignore[arg-type]
        (
            lambda r: reward_start_bonus(
                r, POINTS, questions_required=1, questions_answered=1, already_paid=False
            ),
            (50.0,),
        ),
    ],
)
def test_a_float_is_refused_wherever_money_enters(call: Any, arguments: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError, match="float"):
        call(*arguments)


@pytest.mark.parametrize(
    ("cpi", "share"),
    [
        (Decimal("-0.01"), SHARE),
        (Decimal("NaN"), SHARE),
        (Decimal("Infinity"), SHARE),
        (Decimal(1), Decimal(0)),
        (Decimal(1), Decimal("1.01")),
    ],
)
def test_a_negative_or_non_finite_cpi_or_share_is_refused(cpi: Decimal, share: Decimal) -> None:
    with pytest.raises(ValueError, match=r"negative|finite|share"):
        publisher_cpi(cpi, share)


def test_a_callers_decimal_context_does_not_change_what_is_paid() -> None:
    with decimal.localcontext(decimal.Context(prec=2, rounding=decimal.ROUND_DOWN)):
        assert publisher_cpi(Decimal("1234.65"), Decimal("0.5")) == Decimal("617.33")
        assert user_value(Decimal("617.33"), POINTS) == Decimal(61733)


@given(cents, factors, bonuses)
def test_floored_value_is_the_largest_whole_unit_not_above_the_exact_value(
    usd: Decimal, factor: Decimal, bonus: int
) -> None:
    exact = usd * factor * (100 + bonus) / 100
    value = user_value(usd, Currency(factor=factor, bonus_percent=bonus, whole_units=True))
    assert value == value.to_integral_value()
    assert value <= exact < value + 1


@given(cents, factors, bonuses)
def test_two_decimal_value_is_within_half_a_cent_of_the_exact_value(
    usd: Decimal, factor: Decimal, bonus: int
) -> None:
    exact = usd * factor * (100 + bonus) / 100
    value = user_value(usd, Currency(factor=factor, bonus_percent=bonus, whole_units=False))
    assert value.as_tuple().exponent == -2
    assert -Decimal("0.005") < value - exact <= Decimal("0.005")


@given(st.decimals(min_value=0, max_value=10_000, places=4), shares)
def test_publisher_cpi_is_within_half_a_cent_of_its_share_and_never_above_the_cpi(
    cpi: Decimal, share: Decimal
) -> None:
    earned = publisher_cpi(cpi, share)
    assert earned.as_tuple().exponent == -2
    assert -Decimal("0.005") < earned - cpi * share <= Decimal("0.005")
    assert earned <= cpi.quantize(Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_formatted_amounts_have_no_exponent_and_read_back_exactly(amount: Decimal) -> None:
    text = format_amount(amount)
    assert "e" not in text.lower()
    assert Decimal(text) == amount


def test_padding_writes_the_places_without_changing_an_amount() -> None:
    assert str(padded(Decimal("1.5"), CENT)) == "1.50"
    assert str(padded(Decimal("-860"), Decimal(1))) == "-860"
    assert str(padded(Decimal("13.5"), Decimal(1))) == "13.5"  # paid before whole units
    assert str(padded(Decimal("0.125"), CENT)) == "0.125"


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False))
def test_padding_never_changes_the_value(amount: Decimal) -> None:
    assert padded(amount, CENT) == amount
    assert padded(amount, Decimal(1)) == amount
