"""tune_for_server: what start-up built is frozen, the young generation is collected less
often, and a waiting thread gets the GIL back sooner."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from surveyrouter.collector import SWITCH_INTERVAL_SECONDS, YOUNG_THRESHOLD, tune_for_server


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    sys.setswitchinterval(interval)


@pytest.mark.usefixtures("restored")
def test_tuning_freezes_the_heap_and_sets_the_collector_and_the_switch_interval() -> None:
    tune_for_server()

    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS)
