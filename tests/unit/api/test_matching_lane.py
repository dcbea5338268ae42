"""The matching lane: listing calls' blocking work in worker threads, at most ``concurrency``
at once, the others waiting their turn in the order they came."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import anyio
import pytest

from surveyrouter.api.matching_lane import MatchingLane
from tests.event_loops import run_loop


class Tally:
    """What ran, in which order, and the most that ran at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.started: list[int] = []

    def enter(self, number: int) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.started.append(number)

    def leave(self) -> None:
        with self.lock:
            self.running -= 1


def run_calls(lane: MatchingLane, count: int, work: Callable[[int], None]) -> None:
    async def main() -> None:
        async with anyio.create_task_group() as group:
            for number in range(count):
                group.start_soon(lane.run, work, number)
                await anyio.sleep(0.01)  # each call reaches the lane before the next

    run_loop(main)


def test_a_lane_of_one_runs_the_calls_one_after_the_other_in_the_order_they_came() -> None:
    lane = MatchingLane(1)
    tally = Tally()

    def work(number: int) -> None:
        tally.enter(number)
        time.sleep(0.02)
        tally.leave()

    run_calls(lane, 6, work)

    assert tally.started == [0, 1, 2, 3, 4, 5]
    assert tally.peak == 1


def test_a_lane_of_three_runs_three_calls_side_by_side_and_never_more() -> None:
    lane = MatchingLane(3)
    tally = Tally()
    # Three calls meet here: a lane that ran fewer at once would break the barrier.
    meeting = threading.Barrier(3, timeout=5)

    def work(number: int) -> None:
        tally.enter(number)
        meeting.wait()
        time.sleep(0.02)
        tally.leave()

    run_calls(lane, 6, work)

    assert sorted(tally.started) == [0, 1, 2, 3, 4, 5]
    assert tally.peak == 3


def test_the_lane_counts_the_calls_running_and_waiting() -> None:
    lane = MatchingLane(1)
    release = threading.Event()
    seen: dict[str, int] = {}

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(lane.run, release.wait, 5)
            await anyio.sleep(0.2)
            seen.update(running=lane.running, waiting=lane.waiting)
            release.set()

    assert (lane.running, lane.waiting) == (0, 0)
    run_loop(main)

    assert seen == {"running": 1, "waiting": 2}
    assert (lane.running, lane.waiting) == (0, 0)


def test_a_call_returns_its_value_or_raises_its_error() -> None:
    lane = MatchingLane(2)

    def fail() -> None:
        raise LookupError("no such user")

    async def main() -> int:
        with pytest.raises(LookupError, match="no such user"):
            await lane.run(fail)
        return await lane.run(sum, [1, 2, 3])

    assert run_loop(main) == 6


def test_one_lane_serves_one_event_loop_after_another() -> None:
    lane = MatchingLane(1)

    async def main() -> str:
        return await lane.run(str.upper, "ok")

    assert run_loop(main) == "OK"
    assert run_loop(main) == "OK"  # a test client's loop, then the next one's


def test_a_lane_runs_at_least_one_call_at_a_time() -> None:
    with pytest.raises(ValueError, match="at least one"):
        MatchingLane(0)
