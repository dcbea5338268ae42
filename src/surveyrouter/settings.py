"""The one settings object: every knob is an environment variable prefixed ``SURVEYROUTER_``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

from surveyrouter.egress import parse_networks

# Where `serve` mounts the embedded sandbox exchange.
SANDBOX_MOUNT = "/sandbox/rex"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class UnsupportedDatabaseUrl(ValueError):
    """The database URL names a backend surveyrouter does not run on."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SURVEYROUTER_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/surveyrouter.db",
        description="sqlite:///path or postgresql://user@host:port/db (postgres:// works too).",
    )
    # An API process has up to 16 or so requests on the database at once under load. Fewer
    # kept connections than that (SQLAlchemy's 5) made most of them overflow, each opening and
    # closing a PostgreSQL backend: a third fewer requests/s on a plain read (performance.md).
    database_pool_size: int = Field(
        default=15,
        ge=1,
        le=500,
        description="PostgreSQL connections each process keeps open for its requests.",
    )
    database_pool_overflow: int = Field(
        default=5,
        ge=0,
        le=500,
        description="More PostgreSQL connections a process may open at a busy moment, each "
        "closed again when it is returned.",
    )
    database_pool_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="How long a request waits for a free PostgreSQL connection before it is "
        "answered 503.",
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `serve` listens on.")
    log_level: LogLevel = Field(default="INFO", description="Threshold of the JSON logs.")
    public_url: str | None = Field(
        default=None,
        description="Where users and exchanges reach this server (default http://HOST:PORT).",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="API worker processes `serve` runs on its socket; more than one needs the "
        "sandbox exchange on its own (SURVEYROUTER_SANDBOX_URL) or off.",
    )
    actions_max_surveys: int = Field(
        default=50,
        ge=1,
        le=500,
        description="Most surveys one Get Actions or v2 surveys response lists, best first.",
    )
    matching_concurrency: int = Field(
        default=2,
        ge=1,
        le=64,
        description="How many matching calls (Get Actions, Check, v2 surveys) one API "
        "process works on at once; the others wait their turn, first come first served.",
    )
    impressions_flush_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How often each API process adds the impressions it counted to the store.",
    )
    app_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="How long an API process keeps an app it read by token; an operator's "
        "change to an app reaches every process within this time (0: read it every call).",
    )
    sync_enabled: bool = Field(
        default=True,
        description="Run the sync workers inside `serve` (off when `surveyrouter sync` runs).",
    )
    index_poll_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often each server applies the store's change feed."
    )
    max_request_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Larger request bodies are refused with 413 before they are read.",
    )
    callback_first_retry_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Wait before retrying a failed publisher callback; doubles each time.",
    )
    attribute_discovery_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often unmapped exchange attributes are looked up."
    )

    sandbox_enabled: bool = Field(
        default=True, description="Register the bundled REX-compatible sandbox exchange."
    )
    sandbox_url: str | None = Field(
        default=None,
        description="The sandbox's base URL for sync; default: the one `serve` mounts itself.",
    )
    sandbox_access_key: str = Field(default="sandbox-access-key")
    sandbox_secret_key: SecretStr = Field(default=SecretStr("sandbox-secret-key"))
    sandbox_redirect_access_key: str = Field(default="sandbox-redirect-access-key")
    sandbox_redirect_secret_key: SecretStr = Field(default=SecretStr("sandbox-redirect-secret"))
    sandbox_state_path: Path = Field(
        default=Path("./var/sandbox-exchange.db"),
        description="The embedded sandbox's own state file, beside the router's data.",
    )
    sandbox_seed: int = Field(default=1, description="Seed of the embedded sandbox's market.")
    sandbox_opportunities: int = Field(
        default=2000, ge=0, le=200_000, description="Opportunities the sandbox market starts with."
    )
    sandbox_frozen: bool = Field(
        default=False, description="Test switch: the sandbox market never changes by itself."
    )
    sandbox_interactive: bool = Field(
        default=False, description="Sandbox /start shows prescreen and survey pages to click."
    )
    sandbox_forced_outcome: str | None = Field(
        default=None,
        pattern=r"^(\d+\.\d+|abandoned)$",
        description="Test switch: every simulated survey ends so: DISPOSITION.STATUS (e.g. 1.0) "
        "or abandoned.",
    )

    # A real Dynata REX network (REX §0): on when its API key pair is set. The production
    # endpoints are the defaults; the QA ones are registry.qa-rex / respondent.qa-rex.
    rex_registry_url: str = Field(
        default="https://registry.rex.dynata.com", description="Opportunity Registry base URL."
    )
    rex_gateway_url: str = Field(
        default="https://respondent.rex.dynata.com", description="Respondent Gateway base URL."
    )
    rex_access_key: str | None = Field(default=None, description="REX API access key.")
    rex_secret_key: SecretStr | None = Field(default=None, description="REX API secret key.")
    rex_redirect_access_key: str | None = Field(
        default=None, description="Access key Dynata signs returns and callbacks with (§1.5)."
    )
    rex_redirect_secret_key: SecretStr | None = Field(
        default=None, description="Secret of the redirect key pair."
    )
    return_grace_hours: int = Field(
        default=24,
        ge=0,
        description="How long after its expiration an authentic exchange return is still "
        "taken (a user who came back late still gets paid).",
    )
    rex_shard_count: int = Field(default=1, ge=1, le=5, description="REX shards in use (§2.1).")
    rex_shard_index: int = Field(
        default=1, ge=1, le=5, description="This worker's shard, 1-based (§2.1)."
    )
    rex_poll_interval_seconds: float = Field(
        default=5.0, gt=0, description="Pause after an empty receive-notifications (§9.5)."
    )
    rex_refresh_interval_minutes: float = Field(
        default=15.0,
        gt=0,
        description="Re-read a live opportunity not refreshed for this long (lost notifications).",
    )

    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Comma-separated addresses or CIDRs of reverse proxies whose "
        "X-Forwarded-For is believed; empty: the header is never read.",
    )
    callback_test_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Comma-separated addresses or CIDRs that a publisher's test callback "
        "(POST /v1/publishers/callbacks/test) may reach besides public addresses; empty: "
        "loopback, private and other non-public addresses are refused.",
    )
    geoip_country_db: Path | None = Field(
        default=None,
        description="A MaxMind-format country database (GeoIP2/GeoLite2 Country or City, "
        "DB-IP); without it the RIR allocations bundled with iptocc are used.",
    )
    anonymous_ip_db: Path | None = Field(
        default=None, description="A MaxMind Anonymous IP database: VPN and proxy users."
    )
    anonymous_ip_cidr_files: Annotated[list[Path], NoDecode] = Field(
        default=[],
        description="Comma-separated files of VPN/proxy CIDRs, one per line, # comments.",
    )

    @field_validator(
        "trusted_proxies",
        "anonymous_ip_cidr_files",
        "callback_test_allowed_networks",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("callback_test_allowed_networks", mode="after")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value

    @model_validator(mode="after")
    def _rex_pairs_are_whole(self) -> Settings:
        for access, secret in (
            ("rex_access_key", "rex_secret_key"),
            ("rex_redirect_access_key", "rex_redirect_secret_key"),
        ):
            if (getattr(self, access) is None) != (getattr(self, secret) is None):
                raise ValueError(
                    f"set both SURVEYROUTER_{access.upper()} and its secret, or neither"
                )
        if self.rex_shard_index > self.rex_shard_count:
            raise ValueError("SURVEYROUTER_REX_SHARD_INDEX is above SURVEYROUTER_REX_SHARD_COUNT")
        return self

    @property
    def rex_enabled(self) -> bool:
        return self.rex_access_key is not None

    def base_url(self, port: int | None = None) -> str:
        """Where this server is reached: ``public_url``, else ``http://host:port`` (``port``
        is the one actually bound, for ``--port 0``)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return http_url(self.host, self.port if port is None else port)

    def sandbox_base_url(self, port: int | None = None) -> str:
        """Where the sandbox is reached: ``sandbox_url``, else mounted in this server."""
        if self.sandbox_url:
            return self.sandbox_url.rstrip("/")
        return f"{self.base_url(port)}{SANDBOX_MOUNT}"


def http_url(host: str, port: int) -> str:
    """The URL a client uses to reach a server listening on ``host:port``: a wildcard address
    becomes ``localhost``, an IPv6 address gets its brackets."""
    if host in ("0.0.0.0", "::"):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def sqlalchemy_url(settings: Settings) -> URL:
    """The SQLAlchemy URL for ``settings.database_url``, with the driver surveyrouter uses.

    Operators write plain ``sqlite:///…`` or ``postgresql://…`` (Heroku-style ``postgres://``
    too); the driver is an implementation detail, so it is chosen here: psycopg 3 for
    PostgreSQL, the standard library's sqlite3 for SQLite. An explicit driver is replaced, so
    a ``postgresql+psycopg2://`` URL cannot make us load a driver we do not install.
    """
    raw = settings.database_url.strip()
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw.removeprefix("postgres://")
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return url.set(drivername="sqlite+pysqlite")
    raise UnsupportedDatabaseUrl(
        f"unsupported database URL scheme {url.drivername!r}: use sqlite:/// or postgresql://"
    )


def sqlite_path(url: URL) -> Path | None:
    """The file a SQLite URL points at, or None for in-memory SQLite and other backends."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)
