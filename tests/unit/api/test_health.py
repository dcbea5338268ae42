"""The database probe behind ``/healthz``: one ping at a time, shared by the checks that
arrive while it is out."""

from __future__ import annotations

import threading
import time

import anyio
from sqlalchemy.exc import OperationalError

from surveyrouter.api.health import DatabaseProbe
from tests.event_loops import run_loop


class Database:
    """A ping that waits until released, counting how often it was asked."""

    def __init__(self, *, up: bool = True) -> None:
        self.up = up
        self.pings = 0
        self.release = threading.Event()

    def ping(self) -> None:
        self.pings += 1
        self.release.wait(5)
        if not self.up:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))


def checks(probe: DatabaseProbe, count: int, database: Database) -> list[bool]:
    """``count`` checks at once; the ping answers once all of them are waiting."""

    async def main() -> list[bool]:
        answers: list[bool] = []

        async def check() -> None:
            answers.append(await probe.database_ok())

        async with anyio.create_task_group() as group:
            for _ in range(count):
                group.start_soon(check)
            await anyio.sleep(0.05)
            database.release.set()
        return answers

    return run_loop(main)


def test_checks_arriving_together_share_one_ping() -> None:
    database = Database()
    assert checks(DatabaseProbe(database.ping), 20, database) == [True] * 20
    assert database.pings == 1


def test_a_database_that_does_not_answer_is_reported_down_to_every_waiting_check() -> None:
    database = Database(up=False)
    assert checks(DatabaseProbe(database.ping), 5, database) == [False] * 5
    assert database.pings == 1


def test_a_check_after_the_answer_pings_again() -> None:
    database = Database()
    probe = DatabaseProbe(database.ping)
    checks(probe, 3, database)
    database.up = False
    assert checks(probe, 1, database) == [False]
    assert database.pings == 2


def test_a_check_whose_caller_went_away_leaves_the_others_their_answer() -> None:
    database = Database()
    probe = DatabaseProbe(database.ping)

    async def main() -> tuple[bool, bool]:
        answer: list[bool] = []

        async def staying() -> None:
            answer.append(await probe.database_ok())

        async with anyio.create_task_group() as group:
            with anyio.move_on_after(0.02) as leaving:
                group.start_soon(staying)
                await probe.database_ok()
            database.release.set()
        return leaving.cancelled_caught, answer == [True]

    assert run_loop(main) == (True, True)
    assert database.pings == 1


def test_a_ping_that_hangs_is_reported_down_in_time_and_the_next_check_asks_again() -> None:
    database = Database()  # never released: its ping hangs on
    probe = DatabaseProbe(database.ping, timeout_s=0.1)

    async def main() -> tuple[list[bool], bool, float]:
        answers: list[bool] = []

        async def check() -> None:
            answers.append(await probe.database_ok())

        started = time.monotonic()
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(check)
        waited = time.monotonic() - started
        later = await probe.database_ok()  # the stuck ping is given up: a new one, stuck too
        database.release.set()  # the pings end before the loop does
        return answers, later, waited

    answers, later, waited = run_loop(main)
    assert answers == [False] * 5
    assert later is False
    assert waited < 1
    assert database.pings == 2


def test_a_ping_failing_in_any_way_is_a_database_down() -> None:
    def ping() -> None:
        raise OSError("no route to host")

    async def main() -> bool:
        return await DatabaseProbe(ping).database_ok()

    assert run_loop(main) is False
