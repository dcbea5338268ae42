"""Background loops run in threads, come back after a crash, and stop together."""

from __future__ import annotations

import threading
import time

from surveyrouter.workers.loops import BackgroundLoops, Loop


def wait_for(condition: threading.Event, seconds: float = 5.0) -> bool:
    return condition.wait(seconds)


def test_every_loop_runs_until_stopped_then_all_are_joined() -> None:
    ran = {"a": threading.Event(), "b": threading.Event()}

    def loop(name: str) -> Loop:
        def run(stop: threading.Event) -> None:
            ran[name].set()
            stop.wait()

        return run

    loops = BackgroundLoops({"a": loop("a"), "b": loop("b")})
    loops.start()
    assert wait_for(ran["a"])
    assert wait_for(ran["b"])
    assert sorted(loops.alive) == ["a", "b"]

    loops.stop(timeout=5)

    assert loops.alive == []


def test_a_loop_that_crashes_is_started_again() -> None:
    attempts: list[float] = []
    recovered = threading.Event()

    def flaky(stop: threading.Event) -> None:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RuntimeError("database went away")
        recovered.set()
        stop.wait()

    loops = BackgroundLoops({"flaky": flaky}, restart_delay=0.01)
    loops.start()
    try:
        assert wait_for(recovered)
        assert len(attempts) == 3
    finally:
        loops.stop(timeout=5)


def test_a_loop_that_returns_is_not_restarted() -> None:
    calls: list[int] = []

    def once(stop: threading.Event) -> None:
        calls.append(1)

    loops = BackgroundLoops({"once": once}, restart_delay=0.01)
    loops.start()
    time.sleep(0.1)
    loops.stop(timeout=5)

    assert calls == [1]


def test_a_stop_asked_for_before_the_start_is_kept() -> None:
    ran: list[int] = []

    def loop(stop: threading.Event) -> None:
        while not stop.is_set():
            ran.append(1)
            stop.wait(0.01)

    loops = BackgroundLoops({"loop": loop})
    loops.stop_event.set()  # e.g. SIGTERM while the process was still starting
    loops.start()
    loops.wait()
    loops.stop(timeout=5)

    assert ran == []
