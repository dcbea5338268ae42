"""``/admin/users``: find a user by app and uid; see what the router knows of them (facts,
answers, history, ledger); ban or unban them; reverse one of their completes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.bootstrap import Runtime, configured_networks
from surveyrouter.clock import utc_now
from surveyrouter.domain.apps import App
from surveyrouter.domain.money import NotReconcilable, RewardKind
from surveyrouter.domain.operators import ActionKind, user_subject
from surveyrouter.domain.users import User
from surveyrouter.services.history import user_history
from surveyrouter.services.rewards import TransactionNotFound, reverse_complete
from surveyrouter.store.answers import user_answers
from surveyrouter.store.apps import AppNotFound, get_app, list_apps
from surveyrouter.store.category_library import load_category_catalog
from surveyrouter.store.db import transaction
from surveyrouter.store.ledger import get_entry, user_entries
from surveyrouter.store.users import ban_user, find_user, user_by_id, user_last_seen
from surveyrouter.web.admin.activity import record
from surveyrouter.web.admin.auth import AdminProblem, CheckedForm, OperatorDep
from surveyrouter.web.admin.ids import stored_id
from surveyrouter.web.admin.templating import render

router = APIRouter(include_in_schema=False)

# Categories in the history are named in this language: the dashboard's.
LANGUAGE = "en"
MAX_REASON = 1000
# The notices a redirect after a change may name (never text from the query itself).
_NOTICES = {
    "banned": "The user is banned until {until}.",
    "unbanned": "The user is no longer banned.",
    "reversed": "Complete {tx} is reversed: a RECONCILIATION entry and callback are written.",
    "reversed-already": "Complete {tx} was reversed already: nothing new was written.",
}


@dataclass(frozen=True, slots=True)
class _Found:
    app: App
    user: User


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    runtime: RuntimeDep,
    operator: OperatorDep,
    app: str = "",
    uid: str = "",
    done: str = "",
    tx: str = "",
) -> HTMLResponse:
    with runtime.sessions() as session:
        apps = list_apps(session)
    lookup = {"apps": apps, "chosen_app": app, "uid": uid}
    if not app and not uid:
        return render(request, "users.html", lookup, operator=operator, section="users")
    if not uid.strip():
        return render(
            request,
            "users.html",
            {**lookup, "problem": "Type the user's id (the uid the app sends)."},
            operator=operator,
            section="users",
            status_code=400,
        )
    found = _find(runtime, app, uid)
    context = {**lookup, **_profile(runtime, found), "notice": _notice(done, tx, found.user)}
    return render(request, "users_user.html", context, operator=operator, section="users")


@router.post("/admin/users/{user_id}/ban", response_class=RedirectResponse)
def post_ban(
    runtime: RuntimeDep, operator: OperatorDep, form: CheckedForm, user_id: str
) -> RedirectResponse:
    until = _until(_field(form, "until"))
    reason = _reason(form, "Say why the user is banned (the app is told).")
    with transaction(runtime.sessions) as session:
        user = _stored_user(session, user_id)
        ban_user(session, user.id, until, reason)
        detail = f"banned until {until:%Y-%m-%d %H:%M} UTC: {reason}"
        record(session, operator, ActionKind.USER_BAN, user_subject(user), detail)
    return _back(user, "banned")


@router.post("/admin/users/{user_id}/unban", response_class=RedirectResponse)
def post_unban(
    runtime: RuntimeDep, operator: OperatorDep, form: CheckedForm, user_id: str
) -> RedirectResponse:
    with transaction(runtime.sessions) as session:
        user = _stored_user(session, user_id)
        ban_user(session, user.id, None, None)
        record(session, operator, ActionKind.USER_UNBAN, user_subject(user), "unbanned")
    return _back(user, "unbanned")


@router.post("/admin/users/{user_id}/reverse", response_class=RedirectResponse)
def post_reverse(
    runtime: RuntimeDep, operator: OperatorDep, form: CheckedForm, user_id: str
) -> RedirectResponse:
    transaction_id = _field(form, "transaction_id").strip()
    reason = _reason(form, "Say why the complete is reversed (the publisher is told).")
    with runtime.sessions() as session:
        user = _stored_user(session, user_id)
        entry = get_entry(session, transaction_id) if transaction_id else None
    if entry is None or entry.user_id != user.id:
        raise AdminProblem(404, f"The user has no ledger entry {transaction_id!r}.")
    if entry.reward.kind is not RewardKind.COMPLETE:
        kind = entry.reward.kind.value
        raise AdminProblem(400, f"{transaction_id} is a {kind}: only a complete is reversed.")

    def recorded_with_it(session: Session) -> None:
        detail = f"reversed complete {transaction_id}: {reason}"
        record(session, operator, ActionKind.USER_REVERSE, user_subject(user), detail)

    try:
        result = reverse_complete(
            runtime.sessions, transaction_id, reason, utc_now, along=recorded_with_it
        )
    except TransactionNotFound:
        raise AdminProblem(404, f"There is no ledger entry {transaction_id!r}.") from None
    except (NotReconcilable, ValueError) as error:
        raise AdminProblem(400, str(error)) from None
    return _back(user, "reversed" if result.recorded else "reversed-already", tx=transaction_id)


def _find(runtime: Runtime, app: str, uid: str) -> _Found:
    app_id = stored_id(app)
    if app_id is None:
        raise AdminProblem(404, "Choose one of the apps.")
    with runtime.sessions() as session:
        try:
            found_app = get_app(session, app_id)
        except AppNotFound:
            raise AdminProblem(404, f"There is no app {app_id}.") from None
        user = find_user(session, app_id, uid)
    if user is None:
        raise AdminProblem(404, f"App {found_app.name} has no user {uid!r}.")
    return _Found(found_app, user)


def _profile(runtime: Runtime, found: _Found) -> dict[str, Any]:
    """Everything the user's page shows."""
    now = utc_now()
    user = found.user
    with runtime.sessions() as session:
        answers = sorted(user_answers(session, user.id).values(), key=lambda a: a.question_key)
        entries = user_entries(session, user.id)
        last_seen = user_last_seen(session, user.id)
    names = {network.id: network.name for network in configured_networks(runtime.settings)}
    history = user_history(
        runtime.sessions, found.app, user, (), LANGUAGE, names, load_category_catalog(), now
    )
    reversals = {
        entry.reference: entry.transaction_id
        for entry in entries
        if entry.reward.kind is RewardKind.RECONCILIATION and entry.reference is not None
    }
    return {
        "app": found.app,
        "user": user,
        "last_seen": last_seen,
        "banned_now": user.banned_at(now),
        "ban_value": "" if user.banned_until is None else _local(user.banned_until),
        "now_value": _local(now),
        "answers": answers,
        "history": history,
        # Newest first, as the history is.
        "entries": list(reversed(entries)),
        "reversals": reversals,
        "complete": RewardKind.COMPLETE,
    }


def _stored_user(session: Session, user_id: str) -> User:
    """The user a form's path names by their internal id (a uid may hold any character)."""
    number = stored_id(user_id)
    try:
        if number is None:
            raise LookupError(user_id)
        return user_by_id(session, number)
    except LookupError:
        raise AdminProblem(404, f"There is no user {user_id!r}.") from None


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _reason(form: FormData, missing: str) -> str:
    reason = _field(form, "reason").strip()
    if not reason:
        raise AdminProblem(400, missing)
    if len(reason) > MAX_REASON:
        raise AdminProblem(400, f"Keep the reason under {MAX_REASON} characters.")
    return reason


def _until(text: str) -> datetime:
    """A ``datetime-local`` value (``2030-01-02T03:04``, seconds optional), read as UTC; an
    offset, if one is given, is honoured. It must be in the future."""
    try:
        moment = datetime.fromisoformat(text.strip())
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise AdminProblem(
            400, f"{text!r} is not a date and time (YYYY-MM-DDTHH:MM, UTC)."
        ) from None
    if moment <= utc_now():
        raise AdminProblem(400, "A ban ends in the future: to lift one, unban the user.")
    return moment


def _local(moment: datetime) -> str:
    """``moment`` as a ``datetime-local`` input's value, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _back(user: User, done: str, tx: str = "") -> RedirectResponse:
    """Post/redirect/get: back to the user's page, with a notice."""
    query = {"app": str(user.app_id), "uid": user.uid, "done": done}
    if tx:
        query["tx"] = tx
    return RedirectResponse(f"/admin/users?{urlencode(query)}", 303)


def _notice(done: str, tx: str, user: User) -> str | None:
    message = _NOTICES.get(done)
    if message is None:
        return None
    if "{until}" in message:
        if user.banned_until is None:
            return None
        return message.format(until=user.banned_until.strftime("%Y-%m-%d %H:%M:%S UTC"))
    if "{tx}" in message:
        # Transaction ids are 1–64 letters and digits; anything else is not one of ours.
        if not (0 < len(tx) <= 64 and tx.isascii() and tx.isalnum()):
            return None
        return message.format(tx=tx)
    return message
