"""Column types that keep money exact and time zone-aware on every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

MONEY_SCALE = 4
MONEY_PRECISION = 18  # PostgreSQL's NUMERIC(18,4): amounts below 10^14 (migration 0019)
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)

# JSONB on PostgreSQL (indexable, compact); SQLite's JSON is text underneath.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")
# Documents kept as they came and only ever read whole (an exchange's payload, a downloaded
# collection): JSON on every backend, so PostgreSQL keeps the text as sent rather than parsing
# it into JSONB on every write and printing it back on every read (migration 0016).
JsonText = JSON()


class Money(TypeDecorator[Decimal]):
    """A Decimal amount with four decimal places; floats are refused.

    PostgreSQL stores NUMERIC(18,4). SQLite has no exact decimal type (its NUMERIC affinity turns
    values into binary floats), so there the column holds the amount in 1/10000 units as an
    integer, which still sorts and compares correctly in SQL.
    """

    impl = Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | int | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money must be a Decimal, got {type(value).__name__}")
        # Rounds half away from zero, as PostgreSQL does when a NUMERIC(18,4) takes more places.
        amount = value.quantize(_QUANTUM, rounding=ROUND_HALF_UP)
        if dialect.name == "sqlite":
            return int(amount.scaleb(MONEY_SCALE))
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-MONEY_SCALE)
        return Decimal(value).quantize(_QUANTUM)


def entered_form(amount: Decimal) -> Decimal:
    """A stored amount without the column's trailing zeros (0.7000 → 0.7, 1000.0000 → 1000),
    as it was entered; never in exponent form."""
    normal = amount.normalize()
    # normalize() writes 1000 as 1E+3: whole numbers go back to exponent 0.
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that goes in and comes out aware, in UTC.

    SQLite keeps no offset, so naive values read back are UTC by construction; a naive value
    written is taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
