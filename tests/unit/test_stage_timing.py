"""stage_timing: stages of the current request in finishing order, as a Server-Timing value;
nothing is recorded outside a request."""

from __future__ import annotations

from surveyrouter import stage_timing
from surveyrouter.stage_timing import StageTimes, stage


def test_stages_of_a_request_are_listed_in_order_with_the_whole_time_last() -> None:
    times, token = stage_timing.begin()
    try:
        with stage("match"):
            pass
        with stage("rank"):
            pass
    finally:
        stage_timing.end(token)

    assert [name for name, _seconds in times.stages] == ["match", "rank"]
    header = times.header(0.0125).decode()
    assert header.startswith("match;dur=")
    assert ", rank;dur=" in header
    assert header.endswith(", app;dur=12.50")


def test_a_stage_outside_a_request_records_nothing() -> None:
    with stage("match"):
        pass
    times, token = stage_timing.begin()
    stage_timing.end(token)
    with stage("rank"):
        pass

    assert times.stages == []
    assert StageTimes().header() == b""
