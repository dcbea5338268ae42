"""What the sync worker parsed, its own index feed takes back instead of parsing again."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from surveyrouter.domain.opportunity import Opportunity
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.services.recently_parsed import RecentlyParsed


@pytest.fixture
def opportunity(rex_fixtures: Path) -> Opportunity:
    raw = json.loads((rex_fixtures / "get_opportunity.json").read_text())
    return parse_opportunity(raw, "sandbox")


def test_a_change_written_here_is_taken_back_once(opportunity: Opportunity) -> None:
    cache = RecentlyParsed()
    cache.put("sandbox", [(opportunity, 7)])

    assert cache.take("sandbox", opportunity.id, 7) is opportunity
    assert cache.take("sandbox", opportunity.id, 7) is None


def test_another_change_network_or_id_is_not_found(opportunity: Opportunity) -> None:
    cache = RecentlyParsed()
    cache.put("sandbox", [(opportunity, 7)])

    assert cache.take("sandbox", opportunity.id, 8) is None
    assert cache.take("rex", opportunity.id, 7) is None
    assert cache.take("sandbox", opportunity.id + 1, 7) is None
    assert len(cache) == 1


def test_the_oldest_are_forgotten_beyond_the_capacity(opportunity: Opportunity) -> None:
    cache = RecentlyParsed(capacity=2)
    others = [dataclasses.replace(opportunity, id=opportunity.id + i) for i in range(3)]
    cache.put("sandbox", [(o, i + 1) for i, o in enumerate(others)])

    assert len(cache) == 2
    assert cache.take("sandbox", others[0].id, 1) is None
    assert cache.take("sandbox", others[2].id, 3) is others[2]


def test_a_capacity_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RecentlyParsed(capacity=0)
