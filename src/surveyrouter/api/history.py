"""``GET /v1/client/user/history``: the user's surveys, one event each, newest first (client
API §2.7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from surveyrouter.api.actions import CategoryOut, NetworkOut
from surveyrouter.api.client_context import AuthenticatedCallDep, ClientRoute, resolve_unrestricted
from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.api.envelope import Envelope, ok
from surveyrouter.bootstrap import configured_networks
from surveyrouter.clock import utc_now
from surveyrouter.domain.money import format_amount
from surveyrouter.services.history import HistoryEvent, HistoryFilter, user_history
from surveyrouter.store.category_library import load_category_catalog

router = APIRouter(prefix="/v1/client", tags=["client"], route_class=ClientRoute)

Filters = Annotated[
    list[HistoryFilter] | None,
    Query(
        alias="filter",
        description="Kinds of history to list (repeat for several); none: every kind. "
        "Only surveys have events here.",
    ),
]


class HistoryDetails(BaseModel):
    category: CategoryOut
    network: NetworkOut


class HistoryEntry(BaseModel):
    """§2.7. ``tx_id`` is the click id, the complete's transaction id: 32 hex digits, so a
    string (BitLabs' example shows a number). We keep no rating, and pay at once."""

    type: Literal["OPEN", "LEAVE", "SCREENOUT", "COMPLETE"]
    survey_id: int
    tx_id: str
    details: HistoryDetails
    user_value: str | None
    rating: int | None = None
    created_at: str  # RFC 3339
    duration: str | None  # whole seconds
    reconciled: bool
    callback_delay_seconds: int = 0


@router.get("/user/history")
def get_history(
    client: AuthenticatedCallDep, runtime: RuntimeDep, filters: Filters = None
) -> Envelope[list[HistoryEntry]]:
    """The newest 100 surveys the user entered, one event each (a completed survey only
    COMPLETE), newest first. An unknown ``filter`` is 422."""
    call = resolve_unrestricted(client)
    names = {network.id: network.name for network in configured_networks(runtime.settings)}
    events = user_history(
        runtime.sessions,
        call.caller.app,
        call.caller.user,
        filters or (),
        call.context.language,
        names,
        load_category_catalog(),
        utc_now(),
    )
    return ok([_entry(event) for event in events])


def _entry(event: HistoryEvent) -> HistoryEntry:
    click, category = event.click, event.category
    return HistoryEntry(
        type=event.type.value,
        survey_id=click.opportunity_id,
        tx_id=click.id,
        details=HistoryDetails(
            category=CategoryOut(
                name=category.name, icon_url=category.icon, name_internal=category.name_internal
            ),
            network=NetworkOut(name=event.network_name, icon_url=""),
        ),
        user_value=None if event.user_value is None else format_amount(event.user_value),
        created_at=_rfc3339(click.created_at),
        duration=None if event.duration is None else _seconds(event.duration),
        reconciled=event.reconciled,
    )


def _seconds(duration: timedelta) -> str:
    return str(int(duration.total_seconds()))


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
