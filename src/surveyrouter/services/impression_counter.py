"""Impressions counted in memory and added to the store every few seconds.

Every Get Actions and v2 listing counts the surveys it showed. One write transaction per call
was a tenth of the call; here calls add to a counter, and one transaction every few seconds
adds everything counted since with the store's atomic increment (so several API processes
still add up). Impressions are reporting, not money: a process that dies loses at most the
last few seconds of counts, and one that stops writes what it holds first.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.store.db import transaction
from surveyrouter.store.impressions import check_counts, count_impressions, hour_of

logger = logging.getLogger(__name__)

DEFAULT_FLUSH_SECONDS = 5.0


class ImpressionCounter:
    """Counts by (app, network, UTC hour), written by ``flush``: by the thread ``start``
    starts every ``flush_seconds``, and once more by ``stop``."""

    def __init__(
        self, sessions: sessionmaker[Session], flush_seconds: float = DEFAULT_FLUSH_SECONDS
    ) -> None:
        self.sessions = sessions
        self.flush_seconds = flush_seconds
        self._pending: Counter[tuple[int, str, datetime]] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, app_id: int, counts: Mapping[str, int], at: datetime) -> None:
        """Count ``counts`` (surveys shown, by network id) for the app in ``at``'s hour."""
        check_counts(counts)  # refused now, not at the flush that would fail for all
        hour = hour_of(at)
        with self._lock:
            for network_id, count in counts.items():
                if count:
                    self._pending[(app_id, network_id, hour)] += count

    def flush(self) -> int:
        """Write everything counted so far in one transaction; returns how many impressions.
        If the write fails the counts are kept for the next flush, and the error raised."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
        if not pending:
            return 0
        grouped: dict[tuple[int, datetime], dict[str, int]] = {}
        for (app_id, network_id, hour), count in sorted(pending.items()):
            grouped.setdefault((app_id, hour), {})[network_id] = count
        try:
            with transaction(self.sessions) as session:
                for (app_id, hour), counts in grouped.items():
                    count_impressions(session, app_id, counts, hour)
        except BaseException:
            with self._lock:
                self._pending.update(pending)
            raise
        return sum(pending.values())

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the impression counter is already running")
        self._thread = threading.Thread(target=self._run, name="impressions", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then write what is left; a process stopping while the database is
        down logs how many it could not write rather than fail its shutdown."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self.flush()
        except Exception:
            with self._lock:
                lost = sum(self._pending.values())
            logger.exception("impressions: %d counted impressions not written at stop", lost)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:
                # Kept for the next flush: a database blip delays the counts, loses none.
                logger.exception("impressions: writing the counts failed; kept for later")
