"""``/admin/callbacks``: the callback outbox, newest first, filtered by app and status, with
"retry now" for a pending or dead callback and "dead-letter" for a pending one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import FormData

from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.clock import utc_now
from surveyrouter.domain.operators import ActionKind, OperatorSession
from surveyrouter.store.apps import list_apps
from surveyrouter.store.db import transaction
from surveyrouter.store.outbox import CallbackStatus
from surveyrouter.store.outbox_admin import (
    CallbackFinished,
    CallbackNotFound,
    OutboxChange,
    dead_letter,
    list_callbacks,
    retry_now,
)
from surveyrouter.web.admin.activity import record
from surveyrouter.web.admin.auth import AdminProblem, CheckedForm, OperatorDep
from surveyrouter.web.admin.ids import list_url, requested_page, stored_id
from surveyrouter.web.admin.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# The notices a redirect after a change may name (never text from the query itself).
_NOTICES = {
    "retried": "Callback {tx} is pending and due now: the delivery worker sends it next.",
    "retried-pending": "Callback {tx} was pending already; it is due now.",
    "dead-lettered": "Callback {tx} is a dead letter now: it is not retried any more.",
    "dead-already": "Callback {tx} was a dead letter already.",
}


class _Filters:
    """The list's app, status and page, read from a query or a posted form; anything that
    is not one of them is a 400 page."""

    def __init__(self, app: str, status: str, page: str) -> None:
        self.app_id = stored_id(app) if app else None
        if app and self.app_id is None:
            raise AdminProblem(400, "The app is one of the apps' numbers.")
        self.page = requested_page(page)
        try:
            self.status = CallbackStatus(status) if status else None
        except ValueError:
            raise AdminProblem(400, "The status is pending, delivered or dead.") from None

    def query(self, page: int | None = None, **extra: str) -> str:
        """The list's URL with these filters (and ``page`` instead of this one)."""
        filters = {
            "app": "" if self.app_id is None else str(self.app_id),
            "status": "" if self.status is None else self.status.value,
        }
        return list_url("/admin/callbacks", filters, page or self.page, extra)


@router.get("/admin/callbacks", response_class=HTMLResponse)
def callbacks_page(
    request: Request,
    runtime: RuntimeDep,
    operator: OperatorDep,
    app: str = "",
    status: str = "",
    page: str = "1",
    done: str = "",
    tx: str = "",
) -> HTMLResponse:
    filters = _Filters(app, status, page)
    with runtime.sessions() as session:
        apps = list_apps(session)
        found = list_callbacks(
            session,
            app_id=filters.app_id,
            status=filters.status,
            offset=(filters.page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE + 1,
        )
    context = {
        "items": found[:PAGE_SIZE],
        "app_names": {known.id: known.name for known in apps},
        "apps": apps,
        "statuses": [choice.value for choice in CallbackStatus],
        "filters": filters,
        "newer": filters.query(filters.page - 1) if filters.page > 1 else None,
        "older": filters.query(filters.page + 1) if len(found) > PAGE_SIZE else None,
        "notice": _notice(done, tx),
    }
    return render(request, "callbacks.html", context, operator=operator, section="callbacks")


@router.post("/admin/callbacks/{item_id}/retry", response_class=RedirectResponse)
def post_retry(
    runtime: RuntimeDep, operator: OperatorDep, form: CheckedForm, item_id: str
) -> RedirectResponse:
    change = _change(runtime.sessions, operator, item_id, ActionKind.CALLBACK_RETRY)
    done = "retried" if change.changed else "retried-pending"
    return _back(form, done, change)


@router.post("/admin/callbacks/{item_id}/dead-letter", response_class=RedirectResponse)
def post_dead_letter(
    runtime: RuntimeDep, operator: OperatorDep, form: CheckedForm, item_id: str
) -> RedirectResponse:
    change = _change(runtime.sessions, operator, item_id, ActionKind.CALLBACK_DEAD_LETTER)
    done = "dead-lettered" if change.changed else "dead-already"
    return _back(form, done, change)


def _change(
    sessions: sessionmaker[Session], operator: OperatorSession, item_id: str, kind: ActionKind
) -> OutboxChange:
    number = stored_id(item_id)
    if number is None:
        raise AdminProblem(404, f"There is no callback {item_id!r}.")
    try:
        with transaction(sessions) as session:
            if kind is ActionKind.CALLBACK_RETRY:
                change = retry_now(session, number, utc_now())
            else:
                change = dead_letter(session, number, utc_now())
            # A retry always changes something (the callback is due now); a dead letter
            # made twice changes nothing the second time.
            if change.changed or kind is ActionKind.CALLBACK_RETRY:
                item = change.item
                detail = (
                    f"{item.kind} {item.transaction_id} of app {item.app_id}: "
                    f"{change.previous.value} → {item.status.value}"
                )
                record(session, operator, kind, f"callback {item.id}", detail)
            return change
    except CallbackNotFound:
        raise AdminProblem(404, f"There is no callback {number}.") from None
    except CallbackFinished as error:
        raise AdminProblem(
            400, f"{str(error).capitalize()}: it cannot be retried or dead-lettered."
        ) from None


def _back(form: FormData, done: str, change: OutboxChange) -> RedirectResponse:
    """Post/redirect/get: back to the list the form was on, with a notice."""
    try:
        filters = _Filters(
            str(form.get("app") or ""), str(form.get("status") or ""), str(form.get("page") or "")
        )
    except AdminProblem:
        filters = _Filters("", "", "")
    return RedirectResponse(filters.query(done=done, tx=change.item.transaction_id), 303)


def _notice(done: str, tx: str) -> str | None:
    message = _NOTICES.get(done)
    # Transaction ids are 1–64 letters and digits; anything else is not one of ours.
    if message is None or not (0 < len(tx) <= 64 and tx.isascii() and tx.isalnum()):
        return None
    return message.format(tx=tx)
