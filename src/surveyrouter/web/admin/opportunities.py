"""``/admin/opportunities``: the stored opportunities, filtered, sorted and paged; one
opportunity's facts, targeting and payload; and, for a chosen user, each one's verdict as
``surveyrouter explain`` gives it for the user's stored answers."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.clock import utc_now
from surveyrouter.domain.opportunity import OpportunityStatus
from surveyrouter.domain.profile_answers import AttributeSource
from surveyrouter.domain.users import MAX_UID_LENGTH
from surveyrouter.services.actions import SurveyOffers
from surveyrouter.services.explanations import (
    Subject,
    SubjectNotFound,
    explain_listed,
    explain_stored,
    load_subject,
    parse_stored,
    summarize_targeting,
)
from surveyrouter.store.networks import list_networks
from surveyrouter.store.opportunities import get_opportunity
from surveyrouter.store.opportunity_browser import (
    DEFAULT_PAGE_SIZE,
    OpportunityFilter,
    OpportunityOrder,
    browse_opportunities,
)
from surveyrouter.web.admin.auth import AdminProblem, OperatorDep
from surveyrouter.web.admin.templating import render

router = APIRouter(include_in_schema=False)

STATUSES = (
    OpportunityStatus.OPEN,
    OpportunityStatus.PAUSED,
    OpportunityStatus.CLOSED,
    OpportunityStatus.OTHER,
)
ORDERS = (
    (OpportunityOrder.CHANGED, "Newest change first"),
    (OpportunityOrder.CPI, "Highest CPI first"),
    (OpportunityOrder.LOI, "Shortest LOI first"),
)
# Bounds that keep every value inside its column (money, BIGINT) on both databases.
_WHOLE = re.compile(r"[0-9]{1,18}")
_AMOUNT = re.compile(r"[0-9]{1,8}(?:\.[0-9]{1,4})?|\.[0-9]{1,4}")
_SMALL = re.compile(r"[0-9]{1,6}")
_LETTERS = re.compile(r"[A-Za-z]{2,8}")
_FIELD_LENGTH = 100


@dataclass(frozen=True, slots=True)
class Query:
    """The browser's query string, checked."""

    filter: OpportunityFilter
    order: OpportunityOrder
    page: int
    app_id: int | None
    uid: str | None

    def link(self, **changes: Any) -> str:
        """This query's URL with ``changes`` (e.g. another page), filters kept."""
        return "/admin/opportunities?" + urlencode({**self.parameters(), **changes})

    def parameters(self) -> dict[str, str]:
        wanted = self.filter
        values = {
            "network": wanted.network_id,
            "status": None if wanted.status is None else wanted.status.value,
            "country": wanted.country,
            "language": wanted.language,
            "min_cpi": None if wanted.min_cpi is None else str(wanted.min_cpi),
            "max_loi": None if wanted.max_loi_minutes is None else str(wanted.max_loi_minutes),
            "q": None if wanted.number is None else str(wanted.number),
            "sort": None if self.order is OpportunityOrder.CHANGED else self.order.value,
            "page": str(self.page) if self.page > 1 else None,
            **self.subject_parameters(),
        }
        return {name: value for name, value in values.items() if value is not None}

    def subject_parameters(self) -> dict[str, str]:
        if self.app_id is None or self.uid is None:
            return {}
        return {"app": str(self.app_id), "uid": self.uid}


@router.get("/admin/opportunities", response_class=HTMLResponse)
def opportunities_page(
    request: Request, runtime: RuntimeDep, operator: OperatorDep
) -> HTMLResponse:
    now = utc_now()
    with runtime.sessions() as session:
        networks = list_networks(session)
        query = _query(request.query_params, {network.id for network in networks})
        subject = _subject(session, request, query.app_id, query.uid, now)
        page = browse_opportunities(session, query.filter, query.order, query.page)
        explained = (
            {}
            if subject is None
            else explain_listed(session, subject, page.items, _sources(request), now)
        )
    context = {
        "networks": networks,
        "statuses": STATUSES,
        "orders": ORDERS,
        "query": query,
        "page": page,
        "subject": subject,
        "rows": [
            {
                "item": item,
                "cpi": usd(item.cpi),
                "devices": ", ".join(sorted(device.value for device in item.devices)),
                "categories": ", ".join(str(category) for category in item.category_ids),
                "href": _detail_path(item.network_id, item.external_id, query),
                "explanation": explained.get((item.network_id, item.external_id)),
            }
            for item in page.items
        ],
        "previous_href": query.link(page=page.page - 1) if page.has_previous else None,
        "next_href": query.link(page=page.page + 1) if page.has_next else None,
        "page_size": DEFAULT_PAGE_SIZE,
    }
    return render(
        request, "opportunities.html", context, operator=operator, section="opportunities"
    )


@router.get("/admin/opportunities/{network_id}/{external_id}", response_class=HTMLResponse)
def opportunity_page(
    request: Request,
    runtime: RuntimeDep,
    operator: OperatorDep,
    network_id: str,
    external_id: str,
) -> HTMLResponse:
    now = utc_now()
    app_id, uid = _subject_parameters(request.query_params)
    not_found = AdminProblem(404, f"No opportunity {external_id!r} of network {network_id!r}.")
    if not _WHOLE.fullmatch(external_id):
        raise not_found
    sources = _sources(request)
    with runtime.sessions() as session:
        stored = get_opportunity(session, network_id, int(external_id))
        if stored is None:
            raise not_found
        subject = _subject(session, request, app_id, uid, now)
        explanation = (
            None if subject is None else explain_stored(session, subject, stored, sources, now)
        )
    parsed = parse_stored(stored.network_id, stored.status, stored.raw)
    payload_status = stored.raw.get("status") if isinstance(stored.raw, Mapping) else None
    context = {
        "stored": stored,
        "cpi": usd(stored.cpi),
        "parsed": None if isinstance(parsed, str) else parsed,
        "parse_problem": parsed if isinstance(parsed, str) else None,
        "targeting": None if isinstance(parsed, str) else summarize_targeting(parsed, sources),
        "payload_status": payload_status,
        "requirements": [
            field.name.replace("_", " ")
            for field in dataclasses.fields(stored.requirements)
            if getattr(stored.requirements, field.name)
        ],
        "raw_json": json.dumps(stored.raw, indent=2, ensure_ascii=False),
        "stored_on_postgres": runtime.engine.dialect.name == "postgresql",
        "subject": subject,
        "explanation": explanation,
        "verdict_json": (
            None
            if explanation is None or explanation.verdict is None
            else json.dumps(explanation.verdict.as_json(), indent=2)
        ),
        "back_href": "/admin/opportunities"
        + (f"?{urlencode(_only_subject(app_id, uid))}" if subject is not None else ""),
    }
    return render(
        request, "opportunity_detail.html", context, operator=operator, section="opportunities"
    )


def usd(amount: Decimal) -> str:
    """A USD amount with at least two decimals and no trailing zeros past them."""
    text = f"{amount.normalize():f}"
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def _detail_path(network_id: str, external_id: int, query: Query) -> str:
    extra = query.subject_parameters()
    path = f"/admin/opportunities/{network_id}/{external_id}"
    return f"{path}?{urlencode(extra)}" if extra else path


def _only_subject(app_id: int | None, uid: str | None) -> dict[str, str]:
    return {} if app_id is None or uid is None else {"app": str(app_id), "uid": uid}


def _sources(request: Request) -> list[AttributeSource]:
    """The attribute sources this process's Get Actions builds profiles with."""
    offers: SurveyOffers = request.app.state.offers
    return offers.sources.current()


def _subject(
    session: Session, request: Request, app_id: int | None, uid: str | None, now: datetime
) -> Subject | None:
    if app_id is None or uid is None:
        return None
    try:
        return load_subject(session, app_id, uid, _sources(request), now)
    except SubjectNotFound as error:
        raise AdminProblem(404, str(error)) from error


def _query(parameters: Mapping[str, str], network_ids: set[str]) -> Query:
    """The browser's query string checked; every problem in one 400."""
    problems: list[str] = []

    def text(name: str) -> str | None:
        value = parameters.get(name, "").strip()
        if len(value) > _FIELD_LENGTH:
            problems.append(f"{name}: longer than {_FIELD_LENGTH} characters")
            return None
        return value or None

    network = text("network")
    if network is not None and network not in network_ids:
        known = ", ".join(sorted(network_ids))
        problems.append(f"network: {network!r} is not a network here ({known})")
        network = None

    status = None
    status_text = text("status")
    if status_text is not None:
        by_name = {member.value: member for member in STATUSES}
        status = by_name.get(status_text.upper())
        if status is None:
            allowed = ", ".join(by_name)
            problems.append(f"status: {status_text!r} is not one of {allowed}")

    country = text("country")
    if country is not None:
        if _LETTERS.fullmatch(country) is None:
            problems.append(f"country: {country!r} is not a country code (like US)")
            country = None
        else:
            country = country.upper()
    language = text("language")
    if language is not None:
        if _LETTERS.fullmatch(language) is None:
            problems.append(f"language: {language!r} is not a language code (like en)")
            language = None
        else:
            language = language.lower()

    min_cpi = None
    cpi_text = text("min_cpi")
    if cpi_text is not None:
        if _AMOUNT.fullmatch(cpi_text) is None:
            problems.append(
                f"min_cpi: {cpi_text!r} is not an amount in USD (like 1.25, at most "
                "4 decimals and below 100000000)"
            )
        else:
            min_cpi = Decimal(cpi_text)

    max_loi = _whole(text("max_loi"), "max_loi", "a number of minutes", _SMALL, problems)
    number = _whole(text("q"), "q", "an opportunity or project id", _WHOLE, problems)

    order = OpportunityOrder.CHANGED
    sort_text = text("sort")
    if sort_text is not None:
        by_value = {member.value: member for member in OpportunityOrder}
        chosen = by_value.get(sort_text.lower())
        if chosen is None:
            problems.append(f"sort: {sort_text!r} is not one of {', '.join(by_value)}")
        else:
            order = chosen

    page = _whole(text("page"), "page", "a page number", _SMALL, problems)
    if page == 0:
        problems.append("page: pages start at 1")

    app_id, uid = _subject_parameters(parameters, problems)
    if problems:
        raise AdminProblem(400, "Cannot browse with these filters: " + "; ".join(problems) + ".")
    return Query(
        filter=OpportunityFilter(
            network_id=network,
            status=status,
            country=country,
            language=language,
            min_cpi=min_cpi,
            max_loi_minutes=max_loi,
            number=number,
        ),
        order=order,
        page=page or 1,
        app_id=app_id,
        uid=uid,
    )


def _whole(
    value: str | None, name: str, what: str, pattern: re.Pattern[str], problems: list[str]
) -> int | None:
    if value is None:
        return None
    if pattern.fullmatch(value) is None:
        problems.append(f"{name}: {value!r} is not {what}")
        return None
    return int(value)


def _subject_parameters(
    parameters: Mapping[str, str], problems: list[str] | None = None
) -> tuple[int | None, str | None]:
    """``app`` and ``uid``, both or neither; raises the 400 itself when not collecting."""
    found: list[str] = []
    app_text = parameters.get("app", "").strip()
    uid = parameters.get("uid", "").strip()
    app_id = None
    if app_text:
        if _WHOLE.fullmatch(app_text) is None:
            found.append(f"app: {app_text!r} is not an app id")
        else:
            app_id = int(app_text)
    if len(uid) > MAX_UID_LENGTH:
        found.append(f"uid: longer than {MAX_UID_LENGTH} characters")
    if bool(app_text) != bool(uid):
        found.append("app and uid: give both to see a user's verdicts, or neither")
    if problems is not None:
        problems.extend(found)
    elif found:
        raise AdminProblem(400, "Cannot explain for this user: " + "; ".join(found) + ".")
    if found:
        return None, None
    return app_id, uid or None
