"""``/admin/activity``: what operators changed (apps, callbacks, users, operators), in the
dashboard or at the command line, newest first; and ``record``, which every changing form
handler calls once its change is made."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.clock import utc_now
from surveyrouter.domain.operators import ActionKind, Actor, OperatorSession
from surveyrouter.store.operator_actions import list_actions, record_action
from surveyrouter.web.admin.auth import AdminProblem, OperatorDep
from surveyrouter.web.admin.ids import list_url, requested_page
from surveyrouter.web.admin.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


def record(
    session: Session, operator: OperatorSession, kind: ActionKind, subject: str, detail: str
) -> None:
    """Record that the signed-in operator did ``kind`` to ``subject``, in ``session``'s
    transaction: in the change's own where the handler holds it, so that the change and its
    record commit together."""
    record_action(
        session, Actor(operator_id=operator.operator.id), kind, subject, detail, utc_now()
    )


@router.get("/admin/activity", response_class=HTMLResponse)
def activity_page(
    request: Request,
    runtime: RuntimeDep,
    operator: OperatorDep,
    kind: str = "",
    page: str = "1",
) -> HTMLResponse:
    try:
        chosen = ActionKind(kind) if kind else None
    except ValueError:
        raise AdminProblem(400, "Choose one of the kinds of action.") from None
    number = requested_page(page)
    with runtime.sessions() as session:
        found = list_actions(
            session, kind=chosen, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1
        )

    def link(to: int) -> str:
        return list_url("/admin/activity", {"kind": kind}, to)

    context = {
        "actions": found[:PAGE_SIZE],
        "kinds": [choice.value for choice in ActionKind],
        "kind": kind,
        "page": number,
        "newer": link(number - 1) if number > 1 else None,
        "older": link(number + 1) if len(found) > PAGE_SIZE else None,
    }
    return render(request, "activity.html", context, operator=operator, section="activity")
