"""Delivering publisher callbacks from the outbox: at least once, the same URL every time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

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

DEFAULT_TIMEOUT = 10.0
# Longer than one attempt can take (a timeout of 10 s per connect, write and read), so a claim
# never expires under a live delivery: each item of a batch still waiting after half of it
# renews its own before it is sent.
DEFAULT_LEASE = timedelta(minutes=2)


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
    a refused connection) is retried with backoff until 24 h after it was written, then it is
    a dead letter. Claims are committed before sending, results after, so a crash at any point
    loses nothing: an unfinished claim is simply sent again when its lease ends."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        http: httpx.Client,
        clock: Callable[[], datetime],
        *,
        batch: int = 20,
        lease: timedelta = DEFAULT_LEASE,
        first_retry: timedelta = FIRST_RETRY,
    ) -> None:
        self.sessions = sessions
        self.http = http
        self.clock = clock
        self.batch = batch
        self.lease = lease
        self.first_retry = first_retry

    def deliver_due(self) -> DeliveryRound:
        """One round: claim what is due, send each, record each result."""
        claimed_at = self.clock()
        with transaction(self.sessions) as session:
            claimed = claim_due(session, claimed_at, self.batch, self.lease)
        delivered = failed = dead = 0
        for item in claimed:
            if not self._still_ours(item, claimed_at):
                continue
            outcome = self._send(item)
            if outcome == "delivered":
                delivered += 1
            elif outcome == "dead":
                dead += 1
            else:
                failed += 1
        return DeliveryRound(delivered, failed, dead)

    def _still_ours(self, item: OutboxItem, claimed_at: datetime) -> bool:
        """Whether this worker may send ``item`` now: at once while the batch is young; past
        half the lease (a slow publisher ahead in the batch), only once its claim is renewed,
        which fails when another worker took it after the lease ran out."""
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

    def _send(self, item: OutboxItem) -> str:
        status_code: int | None = None
        try:
            # The URL exactly as signed: httpx sends str(httpx.URL(url)), which the builder
            # made sure is the URL itself (domain.callbacks.build_callback_url).
            response = self.http.get(item.url)
            status_code = response.status_code
            error = None if response.is_success else f"HTTP {status_code}"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"
        now = self.clock()
        with transaction(self.sessions) as session:
            if error is None:
                record_delivered(session, item.id, now, status_code or 200)
                return "delivered"
            retry_at = next_attempt_at(
                item.created_at, item.attempts + 1, now, first=self.first_retry
            )
            record_failure(
                session, item.id, now, retry_at=retry_at, status_code=status_code, error=error
            )
        if retry_at is None:
            logger.error(
                "callback %s: dead letter after %d attempts (%s)",
                item.transaction_id,
                item.attempts + 1,
                error,
                extra={"fields": {"transaction_id": item.transaction_id, "app_id": item.app_id}},
            )
            return "dead"
        logger.warning(
            "callback %s: attempt %d failed (%s); next at %s",
            item.transaction_id,
            item.attempts + 1,
            error,
            retry_at.isoformat(),
        )
        return "failed"
