"""The callback delivery loop ``serve`` runs (several processes may run it: claims are leased)."""

from __future__ import annotations

import threading
from datetime import timedelta

from surveyrouter.bootstrap import Runtime
from surveyrouter.clock import utc_now
from surveyrouter.services.callback_delivery import CallbackDelivery
from surveyrouter.workers.loops import Loop

# How often an idle worker looks for due callbacks; a busy one goes straight on.
IDLE_POLL_SECONDS = 1.0


def callback_loop(runtime: Runtime) -> dict[str, Loop]:
    def run(stop: threading.Event) -> None:
        first_retry = timedelta(seconds=runtime.settings.callback_first_retry_seconds)
        with CallbackDelivery(runtime.sessions, utc_now, first_retry=first_retry) as delivery:
            while not stop.is_set():
                if delivery.deliver_due().attempted == 0:
                    stop.wait(IDLE_POLL_SECONDS)

    return {"callback-delivery": run}
