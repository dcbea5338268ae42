"""A v2 click: one user following one listing entry's ``click_url`` (client API §2.2).

Unlike a click (``domain.clicks``), which is an entry into a survey, a v2 click starts before
it: while the survey still waits for answers the click is *qualifying* and asks them one at a
time; once the exchange's entry link is issued it is *entered* and names that click. A user
who backs out is *left*; a start bonus whose questions are answered is *done*.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from surveyrouter.domain.impressions import ClickType


class V2ClickState(enum.Enum):
    QUALIFYING = "qualifying"
    ENTERED = "entered"
    LEFT = "left"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class V2Click:
    """``network_id`` is our network id (None with ``opportunity_id`` for a start bonus);
    ``answered_count`` counts the questions answered in this click's flow."""

    id: str
    app_id: int
    user_id: int
    type: ClickType
    network_id: str | None
    opportunity_id: int | None
    session_id: str
    created_at: datetime
    updated_at: datetime
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    state: V2ClickState = V2ClickState.QUALIFYING
    entered_click_id: str | None = None
    answered_count: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", MappingProxyType(dict(self.tags)))
