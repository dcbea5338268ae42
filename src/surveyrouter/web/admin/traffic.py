"""``/admin/traffic``: the funnel and the money for a period of UTC days, for every app and
network or one of each; per day (a chart and its table), per network and per app.

What every number is, and which day it belongs to, is ``store.traffic``'s to say."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.clock import utc_now
from surveyrouter.domain.apps import App, Currency
from surveyrouter.domain.money import RewardKind
from surveyrouter.store.apps import list_apps
from surveyrouter.store.networks import Network, list_networks
from surveyrouter.store.traffic import (
    MAX_DAYS,
    PeriodInvalid,
    TrafficQuery,
    TrafficReport,
    traffic_report,
)
from surveyrouter.web.admin.auth import OperatorDep
from surveyrouter.web.admin.charts import bar_chart
from surveyrouter.web.admin.templating import render

router = APIRouter(include_in_schema=False)

DEFAULT_DAYS = 7
PAYOUT_KINDS = (
    (RewardKind.COMPLETE, "completes"),
    (RewardKind.SCREENOUT, "screenouts"),
    (RewardKind.START_BONUS, "start bonuses"),
    (RewardKind.RECONCILIATION, "reversals"),
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_APP_ID = re.compile(r"[0-9]{1,18}")


class FilterInvalid(ValueError):
    """A filter of the page cannot be read; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Filters:
    """The form as sent, echoed back into it (also when it is refused)."""

    app: str
    network: str
    start: str
    end: str


@router.get("/admin/traffic", response_class=HTMLResponse)
def traffic_page(
    request: Request,
    runtime: RuntimeDep,
    operator: OperatorDep,
    app: str = "",
    network: str = "",
    start: str = "",
    end: str = "",
) -> HTMLResponse:
    now = utc_now()
    with runtime.sessions() as session:
        apps = list_apps(session)
        networks = list_networks(session)
        try:
            query = read_filters(app, network, start, end, now.date(), apps, networks)
        except FilterInvalid as error:
            filters = Filters(app.strip(), network.strip(), start.strip(), end.strip())
            refused = {"filters": filters, "apps": apps, "networks": networks}
            return _page(request, operator, {**refused, "problem": str(error)}, status_code=400)
        report = traffic_report(session, query, now)
    filters = Filters(
        "" if query.app_id is None else str(query.app_id),
        query.network_id or "",
        query.start.isoformat(),
        query.end.isoformat(),
    )
    chosen = next((candidate for candidate in apps if candidate.id == query.app_id), None)
    context = {
        "filters": filters,
        "apps": apps,
        "networks": networks,
        "report": report,
        "chosen_app": chosen,
        "app_names": {candidate.id: candidate.name for candidate in apps},
        "network_names": {candidate.id: candidate.name for candidate in networks},
        "user_amounts": _user_amounts(report, apps),
        "chart": Markup(_chart(report)),
        "payout_kinds": PAYOUT_KINDS,
        "app_amount": app_amount,
    }
    return _page(request, operator, context)


def read_filters(
    app: str,
    network: str,
    start: str,
    end: str,
    today: date,
    apps: list[App],
    networks: list[Network],
) -> TrafficQuery:
    """The query the form asks for: an app and a network among those that exist (empty:
    all), whole UTC days ``start`` to ``end`` (by default the last 7 up to ``today``)."""
    app, network, start, end = app.strip(), network.strip(), start.strip(), end.strip()
    app_id: int | None = None
    if app:
        if not _APP_ID.fullmatch(app) or int(app) not in {known.id for known in apps}:
            raise FilterInvalid(f"There is no app {app[:40]!r}: choose one from the list.")
        app_id = int(app)
    if network and network not in {known.id for known in networks}:
        raise FilterInvalid(f"There is no network {network[:40]!r}: choose one from the list.")
    last = _date("end", end) if end else None
    first = _date("start", start) if start else None
    if last is None:
        last = today
    try:
        if first is None:
            first = last - timedelta(days=DEFAULT_DAYS - 1)
        return TrafficQuery(first, last, app_id, network or None)
    except OverflowError as error:
        raise FilterInvalid("That period reaches past the calendar: choose other dates.") from error
    except PeriodInvalid as error:
        raise FilterInvalid(f"That period cannot be shown: {error}.") from error


def _date(name: str, text: str) -> date:
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise FilterInvalid(f"The {name} date {text[:40]!r} is not a date written YYYY-MM-DD.")


def _page(
    request: Request, operator: OperatorDep, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "traffic.html",
        {"max_days": MAX_DAYS, **context},
        operator=operator,
        section="traffic",
        status_code=status_code,
    )


def _chart(report: TrafficReport) -> str:
    query = report.query
    return bar_chart(
        [
            ("Revenue, net of reversals", [day.takings.net_revenue for _, day in report.days]),
            ("Publishers' payout", [day.takings.publisher_payout for _, day in report.days]),
        ],
        [day.isoformat() for day, _ in report.days],
        f"Revenue and publishers' payout per day, {query.start} to {query.end} (USD)",
        x_label="Day (UTC)",
        y_label="USD",
        chart_id="money-per-day",
        description=(
            "Two bars a day: the revenue net of reversals and the publishers' payout, in USD. "
            "The table below the chart gives the same numbers."
        ),
    )


def _user_amounts(report: TrafficReport, apps: list[App]) -> dict[int, str]:
    """Each app's users' payout in its own currency, written as the app writes amounts."""
    currencies = {app.id: app.currency for app in apps}
    return {
        app_id: app_amount(traffic.takings.user_payout, currencies.get(app_id, Currency()))
        for app_id, traffic in report.apps
    }


def app_amount(value: Decimal, currency: Currency) -> str:
    """``value`` in ``currency`` as plain text ("1,860 Points", "$1.72"); an image symbol,
    which the dashboard does not load, becomes "units"."""
    places = Decimal(1) if currency.whole_units else Decimal("0.01")
    text = f"{value.quantize(places, rounding=ROUND_HALF_UP):,}"
    if currency.symbol_is_image:
        return f"{text} units"
    if "{value}" in currency.symbol:
        return currency.symbol.replace("{value}", text)
    return f"{text} {currency.symbol}"
