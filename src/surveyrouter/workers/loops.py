"""Running named background loops in threads, and stopping them together.

A loop is a function that runs until the event it is given is set. One that raises is logged
and started again after a pause: a crashed sync or feed thread must not silently leave a
server serving stale data for good.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)

Loop = Callable[[threading.Event], None]

RESTART_DELAY = 5.0


class BackgroundLoops:
    def __init__(self, loops: Mapping[str, Loop], restart_delay: float = RESTART_DELAY) -> None:
        self.loops = dict(loops)
        self.restart_delay = restart_delay
        self.stop_event = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        # One start per instance: a stop asked for before the start (a signal during start-up)
        # must not be forgotten, so the event is never cleared.
        if self._threads:
            raise RuntimeError("the background loops are already running")
        for name, loop in self.loops.items():
            thread = threading.Thread(target=self._guard, args=(name, loop), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        logger.info("background loops started", extra={"fields": {"loops": list(self.loops)}})

    def stop(self, timeout: float = 15.0) -> None:
        """Ask every loop to stop and wait for them (each gets up to ``timeout`` seconds)."""
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("background loop %s did not stop in %.0f s", thread.name, timeout)
        self._threads = []

    def wait(self) -> None:
        """Block until ``stop`` is called (``surveyrouter sync`` runs the loops in front)."""
        while not self.stop_event.wait(1.0):
            pass

    @property
    def alive(self) -> list[str]:
        return [thread.name for thread in self._threads if thread.is_alive()]

    def _guard(self, name: str, loop: Loop) -> None:
        while not self.stop_event.is_set():
            try:
                loop(self.stop_event)
                return
            except Exception:
                logger.exception("background loop %s crashed; restarting it", name)
                self.stop_event.wait(self.restart_delay)
