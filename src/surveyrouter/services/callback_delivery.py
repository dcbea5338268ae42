"""Delivering publisher callbacks from the outbox: at least once, the same URL every time."""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import httpx
from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.delivery import FIRST_RETRY, next_attempt_at
from surveyrouter.store.db import transaction
from surveyrouter.store.outbox import (
    OutboxItem,
    claim_due,
    record_delivered,
    record_failure,
    renew_claim,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Each connect, write and read may take this long...
DEFAULT_TIMEOUT = 10.0
# ...and a whole attempt this long: a publisher that answers a byte at a time is cut off here.
DEFAULT_ATTEMPT_LIMIT = 30.0
# Callbacks of one batch in flight at once, so one publisher's unreachable endpoint (each
# attempt waiting out its connect timeout) does not hold up every other app's callbacks.
DEFAULT_CONCURRENCY = 8
# Longer than an attempt (DEFAULT_ATTEMPT_LIMIT), so a claim never expires under a live one;
# an item that waited for a free slot past half of it renews its claim before it is sent.
DEFAULT_LEASE = timedelta(minutes=2)

# A response hook, as httpx calls it: awaited with each response before its status is read.
ResponseHook = Callable[[httpx.Response], Any]


class Attempt(enum.Enum):
    DELIVERED = "delivered"
    FAILED = "failed"  # tried again later
    DEAD = "dead"  # the retry window has closed
    SUPERSEDED = "superseded"  # another worker took or finished it meanwhile
    UNRECORDED = "unrecorded"  # the store failed: sent again once the lease ends


@dataclass(frozen=True, slots=True)
class _Answered:
    """A 2xx answer."""

    status_code: int


@dataclass(frozen=True, slots=True)
class _Failed:
    """Another status (``status_code``), or no answer at all (None)."""

    status_code: int | None
    error: str


@dataclass(frozen=True, slots=True)
class DeliveryRound:
    delivered: int
    failed: int
    dead: int

    @property
    def attempted(self) -> int:
        return self.delivered + self.failed + self.dead


class CallbackDelivery:
    """Sends due callbacks: a 2xx answer delivers; anything else (another status, a timeout,
    a refused connection, an attempt longer than ``attempt_limit`` seconds) is retried with
    backoff until 24 h after it was written, then it is a dead letter. Claims are committed
    before sending, results after each answer, so a crash at any point loses nothing: an
    unfinished claim is simply sent again when its lease ends.

    Up to ``concurrency`` callbacks of a batch are in flight at once, on an event loop the
    delivery runs in a thread of its own, so ``deliver_due`` may be called from any thread,
    one with an event loop of its own running included; the answer's body is never read,
    only its status. Close it (or use it as a context manager) to close its connections,
    its loop and its threads.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        *,
        batch: int = 20,
        lease: timedelta = DEFAULT_LEASE,
        first_retry: timedelta = FIRST_RETRY,
        timeout: float = DEFAULT_TIMEOUT,
        attempt_limit: float = DEFAULT_ATTEMPT_LIMIT,
        concurrency: int = DEFAULT_CONCURRENCY,
        response_hooks: Sequence[ResponseHook] = (),
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.batch = batch
        self.lease = lease
        self.first_retry = first_retry
        self.attempt_limit = attempt_limit
        self.concurrency = concurrency
        self._loop = asyncio.new_event_loop()
        # The store's work runs in threads: one per slot and spare ones for the claim and
        # the name lookups, so neither waits behind a slow write.
        self._loop.set_default_executor(
            ThreadPoolExecutor(concurrency + 2, thread_name_prefix="callback-delivery")
        )
        self._loop_thread = threading.Thread(
            target=self._loop.run_forever, name="callback-delivery-loop", daemon=True
        )
        self._loop_thread.start()
        hooks: Mapping[str, list[ResponseHook]] = {"response": list(response_hooks)}
        # Redirects are not followed: the hash signs this URL, not wherever it points.
        self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=False, event_hooks=hooks)

    def __enter__(self) -> CallbackDelivery:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._on_loop(self._http.aclose())
            self._on_loop(self._loop.shutdown_default_executor())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join()
            self._loop.close()

    def deliver_due(self) -> DeliveryRound:
        """One round: claim what is due, send each, record each result as it comes."""
        outcomes = self._on_loop(self._round())
        return DeliveryRound(
            delivered=outcomes.count(Attempt.DELIVERED),
            failed=outcomes.count(Attempt.FAILED),
            dead=outcomes.count(Attempt.DEAD),
        )

    def _on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the delivery's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _round(self) -> list[Attempt]:
        claimed_at = self.clock()
        claimed = await asyncio.to_thread(self._claim, claimed_at)
        slots = asyncio.Semaphore(self.concurrency)
        return list(
            await asyncio.gather(*(self._deliver(item, claimed_at, slots) for item in claimed))
        )

    def _claim(self, claimed_at: datetime) -> list[OutboxItem]:
        with transaction(self.sessions) as session:
            return claim_due(session, claimed_at, self.batch, self.lease)

    async def _deliver(
        self, item: OutboxItem, claimed_at: datetime, slots: asyncio.Semaphore
    ) -> Attempt:
        async with slots:
            try:
                if not await asyncio.to_thread(self._still_ours, item, claimed_at):
                    return Attempt.SUPERSEDED
                answer = await self._send(item.url)
                return await asyncio.to_thread(self._record, item, answer)
            except Exception:
                # The store failed for this one (a lock timeout, a dropped connection): the
                # others' results are still recorded, and this one is sent again when its
                # claim runs out. At least once, as always.
                logger.exception(
                    "callback %s: its result could not be recorded; it is sent again once "
                    "its claim runs out",
                    item.transaction_id,
                )
                return Attempt.UNRECORDED

    def _still_ours(self, item: OutboxItem, claimed_at: datetime) -> bool:
        """Whether this worker may send ``item`` now: at once while the batch is young; past
        half the lease (slow publishers ahead of it in the batch), only once its claim is
        renewed, which fails when another worker took it after the lease ran out."""
        now = self.clock()
        if now - claimed_at < self.lease / 2:
            return True
        with transaction(self.sessions) as session:
            renewed = renew_claim(session, item.id, item.next_attempt_at, now + self.lease)
        if not renewed:
            logger.info(
                "callback %s: taken by another worker or finished meanwhile; not sent here",
                item.transaction_id,
            )
        return renewed

    async def _send(self, url: str) -> _Answered | _Failed:
        try:
            async with asyncio.timeout(self.attempt_limit):
                # The URL exactly as signed: httpx sends str(httpx.URL(url)), which the
                # builder made sure is the URL itself (domain.callbacks.build_callback_url).
                async with self._http.stream("GET", url) as response:
                    status_code = response.status_code
        except TimeoutError:
            return _Failed(None, f"no answer within {self.attempt_limit:g} s")
        except httpx.HTTPError as failure:
            return _Failed(None, f"{type(failure).__name__}: {failure}")
        except Exception as failure:
            # Whatever else sending one callback raises (a URL stored before it was checked,
            # that httpx cannot send) is that callback's failed attempt: it must not stop the
            # round, nor the others', nor come back as the same crash every lease.
            logger.warning("a callback could not be sent", exc_info=True)
            return _Failed(None, f"{type(failure).__name__}: {failure}")
        if response.is_success:
            return _Answered(status_code)
        return _Failed(status_code, f"HTTP {status_code}")

    def _record(self, item: OutboxItem, answer: _Answered | _Failed) -> Attempt:
        now = self.clock()
        with transaction(self.sessions) as session:
            if isinstance(answer, _Answered):
                record_delivered(session, item.id, now, answer.status_code)
                return Attempt.DELIVERED
            retry_at = next_attempt_at(
                item.created_at, item.attempts + 1, now, first=self.first_retry
            )
            taken = record_failure(
                session,
                item.id,
                now,
                retry_at=retry_at,
                status_code=answer.status_code,
                error=answer.error,
            )
        error = answer.error
        if not taken:
            logger.info(
                "callback %s: attempt %d failed (%s), but another worker finished it meanwhile",
                item.transaction_id,
                item.attempts + 1,
                error,
            )
            return Attempt.SUPERSEDED
        if retry_at is None:
            logger.error(
                "callback %s: dead letter after %d attempts (%s)",
                item.transaction_id,
                item.attempts + 1,
                error,
                extra={"fields": {"transaction_id": item.transaction_id, "app_id": item.app_id}},
            )
            return Attempt.DEAD
        logger.warning(
            "callback %s: attempt %d failed (%s); next at %s",
            item.transaction_id,
            item.attempts + 1,
            error,
            retry_at.isoformat(),
        )
        return Attempt.FAILED
