"""``/admin/networks``: each exchange's sync state, lag, opportunity counts, last error and
the attributes no question maps yet."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.clock import utc_now
from surveyrouter.services.attributes import attribute_statuses
from surveyrouter.store.networks import list_networks
from surveyrouter.store.question_library import load_question_library
from surveyrouter.store.sync_state import list_sync_states
from surveyrouter.web.admin.auth import OperatorDep
from surveyrouter.web.admin.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/admin/networks", response_class=HTMLResponse)
def networks_page(request: Request, runtime: RuntimeDep, operator: OperatorDep) -> HTMLResponse:
    library = load_question_library()
    now = utc_now()
    with runtime.sessions() as session:
        states = {state.network_id: state for state in list_sync_states(session)}
        rows = []
        for network in list_networks(session):
            unmapped = [
                status
                for status in attribute_statuses(session, network.id, library)
                if not status.mapped
            ]
            state = states.get(network.id)
            since = None
            if state is not None and state.last_success_at is not None:
                since = (now - state.last_success_at).total_seconds()
            rows.append({"network": network, "state": state, "unmapped": unmapped, "since": since})
    return render(request, "networks.html", {"rows": rows}, operator=operator, section="networks")
