"""Clients of REX's REST services: the Opportunity Registry (REX §2) and the Gateway's attribute
catalogue (§6.1 ``/list-attributes``, ``/get-attribute-info``).

Every operation is a ``POST`` of a JSON body (§0). The body is serialised once, and those exact
bytes are both signed (§1.2) and sent. Each attempt is signed afresh, so a retry never carries an
expiration that has run out while it waited.

Failures are named: ``RegistryUnauthorized`` (401/403), ``RegistryNotFound`` (404),
``RegistryUnavailable`` (connection errors, timeouts, 5xx and 429 still failing after the
retries), ``RegistryProtocolError`` (a success response that is not what §2 documents), and
``RegistryError`` for any other refusal. Each carries the server's own ``message`` (or, on the
download endpoints, ``error``) text.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import random as random_module
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self, TypeGuard

import httpx
import msgspec

from surveyrouter import json_codec
from surveyrouter.domain.opportunity import Opportunity
from surveyrouter.networks.rex.opportunities import (
    InvalidOpportunity,
    parse_document,
    parse_opportunity,
)
from surveyrouter.networks.rex.signing import KeyPair, sign_request

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]
Random = Callable[[], float]
"""A uniform float in [0, 1), as ``random.random``."""

REGISTRY_URL = "https://registry.rex.dynata.com"
GATEWAY_URL = "https://respondent.rex.dynata.com"
SANDBOX_REGISTRY_URL = "https://registry.qa-rex.dynata.com"
SANDBOX_GATEWAY_URL = "https://respondent.qa-rex.dynata.com"

# The SDK signs with a 10 s TTL (§1.1). A minute still expires quickly but tolerates a little
# clock skew between us and Dynata; every attempt is signed anew, so waits never eat into it.
DEFAULT_SIGNATURE_TTL = timedelta(seconds=60)
DEFAULT_TIMEOUT = 60.0  # seconds; the SDK's default (§0)

MAX_LIMIT = 50  # §2.1, §2.6: "max 50 will be returned"
MAX_SHARDS = 5  # §2.1: shards.count is 1..5
MAX_VISIBILITY_TIMEOUT = 600  # §2.1: at most 10 minutes
# §2.5: "The fetched collection is being processed. Try again in 5 to 10 seconds."
PROCESSING_RETRY_SECONDS = (5.0, 10.0)
DEFAULT_COLLECTION_ATTEMPTS = 12  # about 1.5 minutes of PROCESSING before giving up

_MESSAGE_LIMIT = 500  # characters of a non-JSON error body worth keeping


# --- errors -----------------------------------------------------------------------------------


class RegistryError(Exception):
    """A REX service refused a request, or could not be reached.

    ``status`` is the HTTP status (None when no response came back); ``message`` is the
    server's own text. The Gateway client raises the same family.
    """

    def __init__(self, status: int | None, message: str, *, operation: str = "") -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.operation = operation

    def __str__(self) -> str:
        where = f"REX {self.operation}" if self.operation else "REX"
        code = "no response" if self.status is None else f"HTTP {self.status}"
        return f"{where}: {code}: {self.message}"


class RegistryUnauthorized(RegistryError):
    """401 "Invalid credentials" or 403 "Unauthorized" (§1.3): a bad, unknown or expired
    signature, or no permission. Retrying the same request would not help."""


class RegistryNotFound(RegistryError):
    """404, including the download endpoints' ``{"error": "… was not found"}`` (§0)."""


class RegistryUnavailable(RegistryError):
    """The service kept failing (connection errors, timeouts, 5xx, 429) through every retry, or
    asked us to wait longer than we are willing to (``retry_after``, in seconds)."""

    def __init__(
        self,
        status: int | None,
        message: str,
        *,
        operation: str = "",
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, message, operation=operation)
        self.attempts = attempts
        self.retry_after = retry_after

    def __str__(self) -> str:
        text = super().__str__()
        if self.attempts > 1:
            text += f" (after {self.attempts} attempts)"
        if self.retry_after is not None:
            text += f" (retry after {self.retry_after:g} s)"
        return text


class CollectionNotReady(RegistryUnavailable):
    """A collection still PROCESSING (§2.5) after every try; ask again later."""


class RegistryProtocolError(RegistryError):
    """A success response whose body is not what REX §2 documents."""


# --- the signed, retrying transport shared by both clients -------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries on connection errors, timeouts, 5xx and 429.

    Attempt ``n``'s delay is ``min(max_delay, base_delay * 2**(n-1))``, jittered into its upper
    half so that several workers do not retry in step. A ``retry-after`` header is honoured as
    sent, up to ``max_retry_after`` seconds; a longer demand fails at once with
    ``RegistryUnavailable.retry_after`` set, for the caller to schedule.
    """

    max_attempts: int = 4  # the first try and three retries, as the SDK (§0)
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 300.0  # §0: put-respondent's example asks for 300 s

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("retry delays must not be negative")

    def backoff(self, attempt: int, random: Random) -> float:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, math.ldexp(self.base_delay, min(attempt - 1, 64)))
        return ceiling / 2 + random() * ceiling / 2


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RexApi:
    """One REX REST service (the Registry or the Gateway): signed JSON POSTs, with retries.

    ``http`` carries the base URL and timeouts; tests pass one built on ``httpx.MockTransport``.
    """

    def __init__(
        self,
        http: httpx.Client,
        keys: KeyPair,
        *,
        clock: Clock = _utc_now,
        sleep: Sleep = time.sleep,
        random: Random = random_module.random,
        retry: RetryPolicy | None = None,
        signature_ttl: timedelta = DEFAULT_SIGNATURE_TTL,
    ) -> None:
        if signature_ttl <= timedelta(0):
            raise ValueError("signature_ttl must be positive")
        self.http = http
        self.keys = keys
        self.clock = clock
        self.sleep = sleep
        self.random = random
        self.retry = retry or RetryPolicy()
        self.signature_ttl = signature_ttl

    @classmethod
    def connect(
        cls,
        base_url: str,
        keys: KeyPair,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        signature_ttl: timedelta = DEFAULT_SIGNATURE_TTL,
        sleep: Sleep = time.sleep,
    ) -> RexApi:
        """``sleep`` waits between retries; a background loop passes one that its stop event
        cuts short, so shutting down never waits out a backoff."""
        http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": "surveyrouter"},
        )
        return cls(http, keys, retry=retry, signature_ttl=signature_ttl, sleep=sleep)

    def close(self) -> None:
        self.http.close()

    def post(self, path: str, payload: Any) -> httpx.Response:
        """POST ``payload`` as JSON to ``path`` and return the 2xx response.

        Retries per ``self.retry``; raises the ``RegistryError`` that fits otherwise.
        """
        # Serialised once, as the SDK does (json.dumps' default separators, §1.2's test
        # vectors): these bytes are what every attempt signs and sends.
        body = json.dumps(payload).encode()
        attempt = 0
        while True:
            attempt += 1
            expires_at = self.clock() + self.signature_ttl
            headers = {
                **sign_request(self.keys, body, expires_at),
                "Content-Type": "application/json",
            }
            requested: float | None = None
            cause: Exception | None = None
            try:
                response = self.http.post(path, content=body, headers=headers)
            except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as error:
                # Our own request is at fault: retrying it would fail the same way.
                raise RegistryError(None, _describe(error), operation=path) from error
            except httpx.TransportError as error:
                status, message, cause = None, _describe(error), error
            else:
                if response.is_success:
                    return response
                status, message = response.status_code, _server_message(response)
                if not _is_retryable(status):
                    raise _refusal(status, message, path)
                requested = _retry_after(response.headers.get("retry-after"), self.clock())
            too_long = requested is not None and requested > self.retry.max_retry_after
            if attempt >= self.retry.max_attempts or too_long:
                raise RegistryUnavailable(
                    status, message, operation=path, attempts=attempt, retry_after=requested
                ) from cause
            delay = requested if requested is not None else self.retry.backoff(attempt, self.random)
            logger.warning(
                "rex %s: %s; retrying in %.1f s (attempt %d of %d)",
                path,
                message if status is None else f"HTTP {status}: {message}",
                delay,
                attempt,
                self.retry.max_attempts,
            )
            self.sleep(delay)


def _is_retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _refusal(status: int, message: str, operation: str) -> RegistryError:
    if status in (401, 403):
        return RegistryUnauthorized(status, message, operation=operation)
    if status == 404:
        return RegistryNotFound(status, message, operation=operation)
    return RegistryError(status, message, operation=operation)


def _server_message(response: httpx.Response) -> str:
    """§0: ``{"message": …}``, or ``{"error": …}`` from the download endpoints' not-found."""
    try:
        document = response.json()
    except (ValueError, UnicodeDecodeError):
        document = None
    if isinstance(document, dict):
        for name in ("message", "error"):
            text = document.get(name)
            if isinstance(text, str) and text:
                return text
    text = response.text.strip()
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT] + "…"
    return text or response.reason_phrase or "no message"


def _describe(error: Exception) -> str:
    detail = str(error)
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait per a ``retry-after`` header: delay-seconds (§0) or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _json(response: httpx.Response, operation: str) -> Any:
    try:
        return json_codec.loads(response.content)
    except (ValueError, UnicodeDecodeError) as error:
        raise RegistryProtocolError(
            response.status_code, f"response is not JSON: {error}", operation=operation
        ) from error


# --- what the registry returns -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivedOpportunity:
    """One opportunity: its JSON exactly as the registry sent it (the store's audit copy,
    written without encoding it again), and what it says."""

    document: bytes
    opportunity: Opportunity

    @property
    def raw(self) -> dict[str, Any]:
        """The document's value."""
        value = json_codec.loads(self.document)
        assert isinstance(value, dict)
        return value


@dataclass(frozen=True, slots=True)
class Rejected:
    """A queue item that could not be parsed; ``id`` is None when it has no readable id."""

    id: int | None
    raw: Any
    error: str


@dataclass(frozen=True, slots=True)
class NotificationBatch:
    """One ``/receive-notifications`` response (§2.1)."""

    documents: tuple[bytes, ...]  # every item's JSON as the registry sent it, in order
    received: tuple[ReceivedOpportunity, ...]
    rejected: tuple[Rejected, ...]
    notification_count: int | None  # header: how many in this response
    notification_total: int | None  # header: unacknowledged in the queue

    @property
    def opportunities(self) -> tuple[Opportunity, ...]:
        return tuple(item.opportunity for item in self.received)

    @property
    def ids(self) -> tuple[int, ...]:
        """Every opportunity id an ack could name, the rejected ones included."""
        parsed = tuple(item.opportunity.id for item in self.received)
        return parsed + tuple(r.id for r in self.rejected if r.id is not None)

    @property
    def raw(self) -> tuple[Any, ...]:
        """Every item's value, parsed or not, in order."""
        return tuple(json_codec.loads(document) for document in self.documents)

    def __len__(self) -> int:
        return len(self.documents)


@dataclass(frozen=True, slots=True)
class Shard:
    """§2.1 sharding: consumer ``current`` of ``count``, both 1-based."""

    count: int
    current: int

    def __post_init__(self) -> None:
        _check_int("shard count", self.count, 1, MAX_SHARDS)
        _check_int("shard current", self.current, 1, MAX_SHARDS)
        if self.current > self.count:
            raise ValueError(
                f"shard current {self.current} is greater than the shard count {self.count}"
            )


@dataclass(frozen=True, slots=True)
class Invite:
    """One invite (§2.6), from the invite queue or an invite collection's CSV."""

    id: int
    collection_id: str
    respondent_id: str
    expiration: datetime | None = None
    created: datetime | None = None
    modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class InviteBatch:
    """One ``/receive-invites`` response (§2.6)."""

    invites: tuple[Invite, ...]
    rejected: tuple[Rejected, ...]

    @property
    def ids(self) -> tuple[int, ...]:
        """Every invite id an ack could name, the rejected ones included."""
        return tuple(i.id for i in self.invites) + tuple(
            r.id for r in self.rejected if r.id is not None
        )


class _Client:
    """What both REX clients share: the signed transport, closed with the client."""

    api: RexApi

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


# --- the Opportunity Registry ------------------------------------------------------------------


class RegistryClient(_Client):
    """Every Opportunity Registry operation of REX §2 but ``/qualify`` (§2.7, undocumented)."""

    def __init__(
        self,
        api: RexApi,
        *,
        network: str = "rex",
        collection_attempts: int = DEFAULT_COLLECTION_ATTEMPTS,
    ) -> None:
        _check_int("collection_attempts", collection_attempts, 1)
        self.api = api
        self.network = network
        self.collection_attempts = collection_attempts
        # INFERRED: a collection id names immutable content (a cell pointing at other values
        # would carry another id), so each is downloaded once per client.
        self._collections: dict[str, tuple[str, ...]] = {}

    @classmethod
    def connect(
        cls,
        base_url: str,
        keys: KeyPair,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        network: str = "rex",
        retry: RetryPolicy | None = None,
        signature_ttl: timedelta = DEFAULT_SIGNATURE_TTL,
    ) -> RegistryClient:
        api = RexApi.connect(
            base_url, keys, timeout=timeout, retry=retry, signature_ttl=signature_ttl
        )
        return cls(api, network=network)

    def receive_notifications(
        self,
        limit: int = MAX_LIMIT,
        *,
        shard: Shard | None = None,
        visibility_timeout: int | None = None,
    ) -> NotificationBatch:
        """Up to ``limit`` (1..50) queued opportunity notifications, oldest first (§2.1).

        They stay queued until acked. An item that does not parse is reported in ``rejected``
        instead of failing the batch; acking it or not is the caller's decision (the SDK's
        silent auto-ack lost data, §8).
        """
        payload: dict[str, Any] = {"limit": _check_int("limit", limit, 1, MAX_LIMIT)}
        if shard is not None:
            payload["shards"] = {"count": shard.count, "current": shard.current}
        if visibility_timeout is not None:
            payload["visibility_timeout"] = _check_int(
                "visibility_timeout", visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT
            )
        path = "/receive-notifications"
        response = self.api.post(path, payload)
        documents = _json_array_items(response, path)
        received: list[ReceivedOpportunity] = []
        rejected: list[Rejected] = []
        for document in documents:
            try:
                opportunity = parse_document(document, self.network)
            except Exception as error:
                # One poison item must not stall the whole queue: report it, with why.
                raw = _value(document)
                if isinstance(raw, dict):
                    rejected.append(Rejected(_item_id(raw), raw, _describe_parse(error)))
                else:
                    rejected.append(Rejected(None, raw, "not a JSON object"))
            else:
                received.append(ReceivedOpportunity(document, opportunity))
        return NotificationBatch(
            documents=documents,
            received=tuple(received),
            rejected=tuple(rejected),
            notification_count=_header_int(response, "notification_count"),
            notification_total=_header_int(response, "notification_total"),
        )

    def ack_notifications(self, opportunity_ids: Iterable[int]) -> None:
        """Remove these opportunities' notifications from the queue (§2.2: a bare id array)."""
        ids = [_check_int("opportunity id", i, 1) for i in opportunity_ids]
        if ids:
            self.api.post("/ack-notifications", ids)

    def get_opportunity(self, opportunity_id: int) -> ReceivedOpportunity:
        """One opportunity by id (§2.3); ``InvalidOpportunity`` if it does not parse."""
        payload = {"id": _check_int("opportunity id", opportunity_id, 1)}
        return self._opportunity(payload)

    def get_group_opportunity(
        self, group_id: int, country: str, language: str
    ) -> ReceivedOpportunity:
        """The opportunity of a quota group in one locale (§2.3's second body form)."""
        payload = {
            "group_id": _check_int("group id", group_id, 1),
            "country": _check_code("country", country).upper(),  # §6.1: /^[A-Z]{2}$/
            "language": _check_code("language", language).lower(),  # /^[a-z]{2}$/
        }
        return self._opportunity(payload)

    def _opportunity(self, payload: Mapping[str, Any]) -> ReceivedOpportunity:
        path = "/get-opportunity"
        response = self.api.post(path, payload)
        raw = _json(response, path)
        if not isinstance(raw, dict):
            raise RegistryProtocolError(200, "expected an opportunity object", operation=path)
        # Read once above; its value is converted, and its text kept as sent.
        return ReceivedOpportunity(response.content, parse_opportunity(raw, self.network))

    def list_project_opportunities(self, project_id: int) -> list[int]:
        """The ids of the opportunities in a project (§2.4), which exclude one another."""
        path = "/list-project-opportunities"
        payload = {"project_id": _check_int("project id", project_id, 1)}
        ids: list[int] = []
        for item in _json_list(self.api.post(path, payload), path):
            # The PHP SDK reads opportunity objects here; take their ids if that is what comes.
            value = item.get("id") if isinstance(item, dict) else item
            if not _is_int(value):
                raise RegistryProtocolError(200, f"not an opportunity id: {item!r}", operation=path)
            ids.append(value)
        return ids

    def download_collection(self, collection_id: str | int) -> tuple[str, ...]:
        """A COLLECTION cell's values (§2.5), one per line, stripped, blank lines dropped.

        PROCESSING is retried every 5–10 s, ``collection_attempts`` times in all, then raises
        ``CollectionNotReady``. The result is cached by id for the life of the client.
        """
        key = _check_collection_id(collection_id)
        cached = self._collections.get(key)
        if cached is not None:
            return cached
        path = "/download-collection"
        response = self._download(path, key)
        text = response.text
        if text.lstrip().startswith("{"):
            # Postal codes and answer ids never start with a brace; a JSON object is a status
            # or error body that must not be cached as values.
            raise RegistryProtocolError(
                response.status_code,
                f"collection {key} came back as a JSON object: {_server_message(response)}",
                operation=path,
            )
        # The SDK's split('\n') turned a trailing newline into an empty value (§8).
        values = tuple(line.strip() for line in text.splitlines() if line.strip())
        self._collections[key] = values
        return values

    def receive_invites(
        self, limit: int = MAX_LIMIT, *, visibility_timeout: int | None = None
    ) -> InviteBatch:
        """Up to ``limit`` (1..50) queued invite messages (§2.6; no shards are documented)."""
        payload: dict[str, Any] = {"limit": _check_int("limit", limit, 1, MAX_LIMIT)}
        if visibility_timeout is not None:
            payload["visibility_timeout"] = _check_int(
                "visibility_timeout", visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT
            )
        path = "/receive-invites"
        invites: list[Invite] = []
        rejected: list[Rejected] = []
        for raw in _json_list(self.api.post(path, payload), path):
            # Documented: {"invite": {…}, "created": …}; the SDK's model is the flat invite.
            fields = raw.get("invite", raw) if isinstance(raw, dict) else raw
            try:
                invites.append(_invite(fields))
            except ValueError as error:
                identifier = _item_id(fields) if isinstance(fields, dict) else None
                rejected.append(Rejected(identifier, raw, str(error)))
        return InviteBatch(invites=tuple(invites), rejected=tuple(rejected))

    def ack_invites(self, invite_ids: Iterable[int]) -> None:
        """Remove these invite messages from the queue (§2.6: an array of ``invite.id``)."""
        ids = [_check_int("invite id", i, 1) for i in invite_ids]
        if ids:
            self.api.post("/ack-invites", ids)

    def download_invite_collection(self, collection_id: str | int) -> tuple[Invite, ...]:
        """An invite collection's rows (§2.6, CSV with a header row).

        Not cached: an invite collection changes as invites are created and updated (§2.6).
        """
        key = _check_collection_id(collection_id)
        path = "/download-invite-collection"
        response = self._download(path, key)
        reader = csv.DictReader(io.StringIO(response.text))
        if reader.fieldnames is None:  # an empty body: EMPTY_PAYLOAD
            return ()
        missing = {"id", "collection_id", "respondent_id"} - set(reader.fieldnames)
        if missing:
            raise RegistryProtocolError(
                response.status_code,
                f"invite collection {key} lacks the columns {', '.join(sorted(missing))}",
                operation=path,
            )
        invites = []
        for row in reader:
            if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
                continue
            try:
                invites.append(_invite(row))
            except ValueError as error:
                raise RegistryProtocolError(
                    response.status_code,
                    f"invite collection {key}, line {reader.line_num}: {error}",
                    operation=path,
                ) from error
        return tuple(invites)

    def _download(self, path: str, collection_id: str) -> httpx.Response:
        low, high = PROCESSING_RETRY_SECONDS
        for attempt in range(1, self.collection_attempts + 1):
            response = self.api.post(path, {"id": collection_id})
            if not _is_processing(response):
                return response
            if attempt < self.collection_attempts:
                delay = low + self.api.random() * (high - low)
                logger.info(
                    "rex %s %s: PROCESSING; asking again in %.1f s", path, collection_id, delay
                )
                self.api.sleep(delay)
        raise CollectionNotReady(
            response.status_code,
            f"collection {collection_id} was still PROCESSING after "
            f"{self.collection_attempts} tries",
            operation=path,
            attempts=self.collection_attempts,
        )


def _is_processing(response: httpx.Response) -> bool:
    """§2.5: a ``status: PROCESSING`` header (the code was not visible; INFERRED 202)."""
    if response.headers.get("status", "").strip().upper() == "PROCESSING":
        return True
    if response.status_code == 202:
        return True
    # Tolerated: the state in a JSON body instead of the header.
    if response.content.lstrip().startswith(b"{"):
        try:
            document = response.json()
        except (ValueError, UnicodeDecodeError):
            return False
        status = document.get("status") if isinstance(document, dict) else None
        return isinstance(status, str) and status.upper() == "PROCESSING"
    return False


# --- the Gateway's attribute catalogue ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListedAttribute:
    """One ``/list-attributes`` entry (§6.1)."""

    parameter_id: int
    active: bool


class GatewayClient(_Client):
    """The Respondent Gateway's attribute catalogue (§6.1); the links live in ``gateway.py``.

    ``/get-attribute-questions`` and ``/get-attribute-answers`` were removed from the Registry
    in 2022 in favour of these two Gateway operations (§2).
    """

    def __init__(self, api: RexApi) -> None:
        self.api = api

    @classmethod
    def connect(
        cls,
        base_url: str,
        keys: KeyPair,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        signature_ttl: timedelta = DEFAULT_SIGNATURE_TTL,
    ) -> GatewayClient:
        return cls(
            RexApi.connect(
                base_url, keys, timeout=timeout, retry=retry, signature_ttl=signature_ttl
            )
        )

    def list_attributes(
        self, country: str, page_number: int, page_size: int
    ) -> tuple[ListedAttribute, ...]:
        """One page of a country's attributes (in production the 500 most used; in the sandbox,
        in no useful order — §6.1)."""
        payload = {
            "country": _check_code("country", country).upper(),
            # Whether pages count from 0 or 1 is not documented; the SDK's example asks for 3.
            "page_number": _check_int("page_number", page_number, 0),
            "page_size": _check_int("page_size", page_size, 1),
        }
        path = "/list-attributes"
        document = _json(self.api.post(path, payload), path)
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, list):
            raise RegistryProtocolError(200, 'expected {"data": [...]}', operation=path)
        return tuple(_listed_attribute(item, path) for item in data)

    def get_attribute_info(self, attribute_id: int) -> dict[str, Any]:
        """An attribute's definition (§6.1), as sent: question, answers, display mode, …"""
        # §8, SDK PR #17: the body key is attribute_id, not id.
        payload = {"attribute_id": _check_int("attribute id", attribute_id, 1)}
        path = "/get-attribute-info"
        document = _json(self.api.post(path, payload), path)
        if not isinstance(document, dict):
            raise RegistryProtocolError(200, "expected an attribute object", operation=path)
        return document


def _listed_attribute(item: Any, path: str) -> ListedAttribute:
    if isinstance(item, dict):
        # The PHP SDK's fixture names it attribute_id.
        identifier = item.get("parameter_id", item.get("attribute_id"))
        active = _boolean(item.get("active", True))
        if _is_int(identifier) and active is not None:
            return ListedAttribute(parameter_id=identifier, active=active)
    raise RegistryProtocolError(200, f"not an attribute entry: {item!r}", operation=path)


# --- parsing and validation --------------------------------------------------------------------


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    span = f"{low}..{high}" if high is not None else f"at least {low}"
    if not _is_int(value) or value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer {span}, not {value!r}")
    return value


def _check_code(name: str, value: Any) -> str:
    if not (isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha()):
        raise ValueError(f"{name} must be a two-letter code, not {value!r}")
    return value


def _check_collection_id(value: Any) -> str:
    # §2.5: the id is sent as a string, even though cells sometimes carry a number.
    if _is_int(value) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError(f"collection id must be a non-empty string, not {value!r}")


def _json_array_items(response: httpx.Response, path: str) -> tuple[bytes, ...]:
    """The JSON text of each item of a response that is a JSON array, as sent."""
    try:
        items = _ARRAY_ITEMS.decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        # Not an array, or not JSON at all: the ordinary reader says which, as it always has;
        # an array msgspec cannot read (``NaN``) is taken item by item from its value.
        return tuple(json_codec.dump_bytes(item) for item in _json_list(response, path))
    return tuple(bytes(item) for item in items)


_ARRAY_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])


def _value(document: bytes) -> Any:
    """An item's value for a rejection report; its text when even that cannot be read."""
    try:
        return json_codec.loads(document)
    except ValueError:
        return document.decode("utf-8", "replace")


def _json_list(response: httpx.Response, path: str) -> list[Any]:
    document = _json(response, path)
    if not isinstance(document, list):
        raise RegistryProtocolError(
            response.status_code,
            f"expected a JSON array, got {type(document).__name__}",
            operation=path,
        )
    return document


def _header_int(response: httpx.Response, name: str) -> int | None:
    # Header names with underscores are dropped by some proxies (nginx by default); the hyphen
    # spelling is accepted too in case one rewrote them.
    value = response.headers.get(name) or response.headers.get(name.replace("_", "-"))
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _item_id(raw: Mapping[str, Any]) -> int | None:
    value = raw.get("id")
    if _is_int(value):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _describe_parse(error: Exception) -> str:
    if isinstance(error, InvalidOpportunity):
        return str(error)
    return _describe(error)


def _invite(fields: Any) -> Invite:
    if not isinstance(fields, Mapping):
        raise ValueError("an invite must be a JSON object")
    identifier = _item_id(fields)
    if identifier is None:
        raise ValueError(f"invite id {fields.get('id')!r} is not an integer")
    text = {}
    for name in ("collection_id", "respondent_id"):
        value = fields.get(name)
        if _is_int(value):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"invite {identifier}: {name} {value!r} is missing or not text")
        text[name] = value.strip()
    return Invite(
        id=identifier,
        collection_id=text["collection_id"],
        respondent_id=text["respondent_id"],
        expiration=_timestamp(fields.get("expiration"), identifier, "expiration"),
        created=_timestamp(fields.get("created"), identifier, "created"),
        modified=_timestamp(fields.get("modified"), identifier, "modified"),
    )


def _timestamp(value: Any, invite_id: int, name: str) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
        if moment is not None:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise ValueError(f"invite {invite_id}: {name} {value!r} is not an RFC 3339 timestamp")


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None
