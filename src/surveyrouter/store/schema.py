"""The tables, as typed SQLAlchemy models. Migrations in ``migrations/versions`` create them.

The models describe the current schema for queries; a change here needs a migration beside it
(``tests/integration/test_migrations.py`` fails when the two drift apart).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from surveyrouter.store.column_types import JsonDocument, JsonText, Money, UtcDateTime

# Named constraints make migrations reproducible: Alembic cannot drop a constraint it cannot name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# PostgreSQL draws change_seq from here; SQLite ignores sequences (see opportunities.py).
CHANGE_SEQ = Sequence("opportunity_change_seq")

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
SurrogateKey = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JsonDocument,
        list[Any]: JsonDocument,
    }


class NetworkRow(Base):
    __tablename__ = "networks"
    # A unique index rather than a constraint: SQLite adds one in place, where a constraint
    # would rebuild the table, which other tables' rows refer to (see migration 0009).
    __table_args__ = (Index("ix_networks_api_id", "api_id", unique=True),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The number the client API names the network by (0 is the question library).
    api_id: Mapped[int] = mapped_column(Integer)


class OpportunityRow(Base):
    __tablename__ = "opportunities"
    __table_args__ = (
        UniqueConstraint("network_id", "external_id"),
        Index("ix_opportunities_status", "status"),
        Index("ix_opportunities_country_language", "country", "language"),
        Index("ix_opportunities_change_seq", "change_seq", unique=True),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"))
    external_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[int | None] = mapped_column(BigInteger)
    group_id: Mapped[int | None] = mapped_column(BigInteger)
    country: Mapped[str] = mapped_column(String(8))
    language: Mapped[str] = mapped_column(String(16))
    cpi: Mapped[Decimal] = mapped_column(Money())
    loi_minutes: Mapped[int] = mapped_column(Integer)
    incidence_rate: Mapped[int] = mapped_column(Integer)
    completes: Mapped[int | None] = mapped_column(Integer)
    days_in_field: Mapped[int | None] = mapped_column(Integer)
    evaluation: Mapped[str | None] = mapped_column(String(32))
    order_number: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[int | None] = mapped_column(BigInteger)
    category_ids: Mapped[list[Any]]
    category_exclusions: Mapped[list[Any]]
    project_exclusions: Mapped[list[Any]]
    devices: Mapped[list[Any]]
    requirements: Mapped[dict[str, Any]]
    live_link: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime | None] = mapped_column(UtcDateTime())
    notified: Mapped[datetime | None] = mapped_column(UtcDateTime())
    raw: Mapped[dict[str, Any]] = mapped_column(JsonText)
    change_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CollectionRow(Base):
    __tablename__ = "collections"

    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), primary_key=True)
    collection_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    values: Mapped[list[Any]] = mapped_column(JsonText)
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime())


class QuestionRow(Base):
    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    # The library's asking order, which ids do not follow.
    position: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]]
    standard: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class QuestionMappingRow(Base):
    __tablename__ = "question_mappings"

    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), primary_key=True)
    attribute_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # Null for a network attribute we have seen but not mapped to a question of ours.
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    answers: Mapped[dict[str, Any]]
    # Who set it (``store.questions.MappingSource``): start-up seeding never overwrites an
    # operator's mapping.
    source: Mapped[str] = mapped_column(String(16), server_default="library")


class NetworkAttributeRow(Base):
    """One attribute as the network's own catalogue describes it (REX §6.1 get-attribute-info).

    ``question`` is what users can be asked in its place until an operator maps the attribute to
    a question of ours; it is null when the attribute cannot be asked (restricted, derived from
    the postal code, …), and ``unaskable`` says why.
    """

    __tablename__ = "network_attributes"

    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), primary_key=True)
    attribute_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str | None] = mapped_column(Text)
    display_mode: Mapped[str | None] = mapped_column(Text)
    question_type: Mapped[str | None] = mapped_column(String(16))
    question: Mapped[dict[str, Any] | None]
    unaskable: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any]]
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SyncStateRow(Base):
    """How one network's sync worker is doing, for health checks and the operator."""

    __tablename__ = "sync_state"

    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), primary_key=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The newest ``notified`` stamp synced so far, and how far behind it was when synced.
    newest_notified: Mapped[datetime | None] = mapped_column(UtcDateTime())
    lag_seconds: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    live_count: Mapped[int] = mapped_column(Integer, server_default="0")
    paused_count: Mapped[int] = mapped_column(Integer, server_default="0")
    closed_count: Mapped[int] = mapped_column(Integer, server_default="0")
    # Notifications that could not be parsed, acked and dropped, since the row was created.
    rejected_total: Mapped[int] = mapped_column(BigInteger, server_default="0")


class ServerSecretRow(Base):
    """Secrets the server generates once and keeps (never regenerated: a new respondent-id
    secret would turn every user into a new respondent, and exchanges' duplicate checks with
    them)."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AppRow(Base):
    """A publisher app (``domain.apps.App``); amounts in exact decimals."""

    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    api_token: Mapped[str] = mapped_column(String(64), unique=True)
    secret: Mapped[str] = mapped_column(String(64))
    s2s_token: Mapped[str] = mapped_column(String(64), unique=True)
    revenue_share: Mapped[Decimal] = mapped_column(Money())
    currency_factor: Mapped[Decimal] = mapped_column(Money())
    currency_bonus_percent: Mapped[int] = mapped_column(Integer)
    currency_whole_units: Mapped[bool] = mapped_column(Boolean)
    currency_symbol: Mapped[str] = mapped_column(Text)
    currency_symbol_is_image: Mapped[bool] = mapped_column(Boolean)
    default_country: Mapped[str] = mapped_column(String(2))
    allowed_countries: Mapped[list[Any]]
    client_overrides_allowed: Mapped[bool] = mapped_column(Boolean)
    callback_url: Mapped[str | None] = mapped_column(Text)
    redirect_complete_url: Mapped[str | None] = mapped_column(Text)
    redirect_screenout_url: Mapped[str | None] = mapped_column(Text)
    redirect_start_bonus_url: Mapped[str | None] = mapped_column(Text)
    redirect_termination_url: Mapped[str | None] = mapped_column(Text)
    screenout_reward: Mapped[Decimal | None] = mapped_column(Money())
    start_bonus_reward: Mapped[Decimal | None] = mapped_column(Money())
    start_bonus_questions: Mapped[int] = mapped_column(Integer)
    leaderboard_enabled: Mapped[bool] = mapped_column(Boolean)
    # Decimal strings: JSON numbers would come back as floats.
    leaderboard_rewards: Mapped[list[Any]]
    colors: Mapped[list[Any]]
    verified: Mapped[bool] = mapped_column(Boolean)
    ranking_variants: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class UserRow(Base):
    """A publisher's user, created on first sight; (app, uid) is the publisher's key."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("app_id", "uid"),)

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    uid: Mapped[str] = mapped_column(String(65))
    respondent_id: Mapped[str] = mapped_column(String(64), unique=True)
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(8))
    device: Mapped[str | None] = mapped_column(String(16))
    username: Mapped[str | None] = mapped_column(String(64))
    banned_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ban_reason: Mapped[str | None] = mapped_column(Text)
    entered_survey: Mapped[bool] = mapped_column(Boolean)
    # Bumped with every write to the user's answers, clicks or hidden surveys (migration 0012).
    state_version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # When the publisher had the user erased; the uid is a tombstone since (migration 0017).
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CallbackOutboxRow(Base):
    """A publisher callback to deliver at least once: written in the transaction that records
    the reward, then sent by the delivery worker until the publisher answers 2xx or the retry
    window closes. ``url`` is final (macros filled, hash appended), so every attempt sends the
    same transaction id and the same bytes."""

    __tablename__ = "callback_outbox"
    __table_args__ = (
        Index("ix_callback_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class LedgerEntryRow(Base):
    """One reward or reversal, never changed once written; one per transaction id, so a
    replayed outcome adds nothing. ``usd`` is what the publisher earns (negative in a
    reversal), ``value`` what the user gets in the app's currency."""

    __tablename__ = "ledger_entries"
    # The weekly leaderboard sums an app's entries over a week (store/leaderboard.py); the
    # user's own entries are read by user (history, the start bonus); the dashboard's payouts
    # read every app's entries by day (store/traffic.py).
    __table_args__ = (
        Index("ix_ledger_entries_app_id_created_at", "app_id", "created_at"),
        Index("ix_ledger_entries_user_id", "user_id"),
        Index("ix_ledger_entries_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    usd: Mapped[Decimal] = mapped_column(Money())
    value: Mapped[Decimal] = mapped_column(Money())
    # A reversal's: the transaction it reverses, and why.
    reference: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class UserAnswerRow(Base):
    """A user's answer to one profile question (``question_key``: a library question's key, or
    a network question's), normalized as validated; or the question skipped for good.
    ``imported``: the publisher's profile import gave it, not the user."""

    __tablename__ = "user_answers"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    question_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    answer: Mapped[list[Any]]
    skipped: Mapped[bool] = mapped_column(Boolean)
    imported: Mapped[bool] = mapped_column(Boolean, server_default=false())
    answered_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ClickRow(Base):
    """One user sent into one opportunity (``domain.clicks.Click``). The outcome columns stay
    null until the exchange's return or callback ends the click; the first one wins."""

    __tablename__ = "clicks"
    # The dashboard's traffic pages read clicks by the day they were made and the day they
    # ended, across every user (store/traffic.py).
    __table_args__ = (
        Index("ix_clicks_user_id_created_at", "user_id", "created_at"),
        Index("ix_clicks_network_id_opportunity_id", "network_id", "opportunity_id"),
        Index("ix_clicks_created_at", "created_at"),
        Index("ix_clicks_ended_at", "ended_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"))
    # The exchange's own ids, as the opportunity carried them when the user clicked.
    opportunity_id: Mapped[int] = mapped_column(BigInteger)
    project_id: Mapped[int | None] = mapped_column(BigInteger)
    category_ids: Mapped[list[Any]]
    exchange_cpi: Mapped[Decimal] = mapped_column(Money())
    loi_minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    disposition: Mapped[int | None] = mapped_column(Integer)
    disposition_status: Mapped[int | None] = mapped_column(Integer)
    outcome_source: Mapped[str | None] = mapped_column(String(16))
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    leave_reason: Mapped[str | None] = mapped_column(String(16))
    # The custom tags of the v2 listing the click came from (client API §2.1), for the callback.
    tags: Mapped[dict[str, Any]] = mapped_column(server_default="{}")


class ImpressionRow(Base):
    """How many of a network's surveys an app's users were shown in one UTC hour."""

    __tablename__ = "impressions"

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"), primary_key=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class V2ClickRow(Base):
    """A click in the client API v2 flow (``domain.v2_clicks.V2Click``): made when the user
    follows a listing's ``click_url``, before any survey is entered. ``entered_click_id`` names
    the click (``clicks``) once the exchange's entry link is issued; it stays null for a start
    bonus, which enters nothing."""

    __tablename__ = "v2_clicks"
    __table_args__ = (Index("ix_v2_clicks_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    network_id: Mapped[str | None] = mapped_column(ForeignKey("networks.id"))
    opportunity_id: Mapped[int | None] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(16))
    session_id: Mapped[str] = mapped_column(String(64))
    tags: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    entered_click_id: Mapped[str | None] = mapped_column(ForeignKey("clicks.id"))
    answered_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class HiddenSurveyRow(Base):
    """A survey the user skipped (``POST /v2/client/surveys/{id}/skip``): never listed to
    them again, in v1 or v2."""

    __tablename__ = "hidden_surveys"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hidden_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OperatorRow(Base):
    """An operator of the dashboard; ``password_hash`` is argon2id (PHC string)."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class OperatorSessionRow(Base):
    """A signed-in operator: the SHA-256 of the cookie's token (never the token itself), and
    the token every form of the session must carry against cross-site requests."""

    __tablename__ = "operator_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


# A login name at the command line, as long as any system allows and then some.
SHELL_USER_LENGTH = 100


class OperatorActionRow(Base):
    """One change an operator made: who (a dashboard operator, or the machine account that
    ran the command line), when, what, to which record, and the particulars (``detail``,
    readable text). Kept for good: the activity page reads it."""

    __tablename__ = "operator_actions"
    __table_args__ = (
        Index("ix_operator_actions_operator_id", "operator_id"),
        CheckConstraint("(operator_id IS NULL) <> (shell_user IS NULL)", name="one_actor"),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    shell_user: Mapped[str | None] = mapped_column(String(SHELL_USER_LENGTH))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text)


class OperatorSignInFailureRow(Base):
    """One failed sign-in: recent ones per username and per address throttle guessing."""

    __tablename__ = "operator_sign_in_failures"
    __table_args__ = (
        Index("ix_operator_sign_in_failures_username_at", "username", "at"),
        Index("ix_operator_sign_in_failures_ip_address_at", "ip_address", "at"),
    )

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
