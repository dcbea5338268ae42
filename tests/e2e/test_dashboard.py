"""The operator dashboard in a real browser: signing in (a wrong password and a forged form
refused), and an operator's day — create an app, watch a sandbox complete reach the funnel
and the revenue chart, retry a dead-lettered callback, ban a user whom the offerwall then
shows the ban."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest

from surveyrouter.clock import utc_now
from surveyrouter.services.operators import create_operator
from tests.e2e.conftest import DESKTOP, PHONE, PLAIN_CPI, Tab, WallServer
from tests.e2e.test_offerwall import answer_profile, open_plain_survey, view
from tests.eventually import eventually
from tests.integration.receiver import receiving

OPERATOR, PASSWORD = "ops@example.org", "a long operator password"


@pytest.fixture(scope="module")
def operator(wall_server: WallServer) -> str:
    create_operator(wall_server.runtime.sessions, utc_now, OPERATOR, PASSWORD)
    return OPERATOR


def sign_in(tab: Tab, server: WallServer, password: str = PASSWORD) -> None:
    tab.page.goto(f"{server.url}/admin")
    tab.page.get_by_label("Username").fill(OPERATOR)
    tab.page.get_by_label("Password").fill(password)
    tab.page.get_by_role("button", name="Sign in").click()


def test_a_wrong_password_and_a_form_without_its_csrf_token_are_refused(
    wall_server: WallServer, operator: str, open_tab: Any
) -> None:
    tab: Tab = open_tab(DESKTOP)
    sign_in(tab, wall_server, password="not the right password")
    assert "Wrong username or password." in tab.page.inner_text("main")
    assert "/admin/sign-in" in tab.page.url
    tab.screenshot("wrong-password")

    sign_in(tab, wall_server)
    tab.page.wait_for_url("**/admin/networks")
    # A forged form: the hidden token removed before the sign-out is posted.
    tab.page.locator("form.sign-out input[name=csrf_token]").evaluate("node => node.remove()")
    tab.page.get_by_role("button", name="Sign out").click()
    assert "CSRF token is missing or wrong" in tab.page.inner_text("main")
    tab.screenshot("csrf-refused")
    tab.page.goto(f"{wall_server.url}/admin/networks")
    assert "Sandbox exchange" in tab.page.inner_text("main")  # still signed in
    assert tab.errors == []


def row_status(tab: Tab, transaction_id: str) -> str | None:
    return tab.page.get_attribute(f'tr[data-transaction="{transaction_id}"]', "data-status")


def test_an_operator_creates_an_app_sees_its_complete_retries_its_callback_and_bans_a_user(
    wall_server: WallServer, operator: str, open_tab: Any
) -> None:
    wall_server.force("1.0")
    with receiving() as (receiver, receiver_url):
        receiver.failures = 10**6  # the publisher's endpoint is down until we say
        tab: Tab = open_tab(DESKTOP)
        page = tab.page
        sign_in(tab, wall_server)
        page.wait_for_url("**/admin/networks")
        assert "Sandbox exchange" in page.inner_text("main")
        tab.screenshot("networks")

        # An app, made in the dashboard.
        page.get_by_role("link", name="Apps").click()
        page.get_by_label("Name", exact=True).fill("Dashboard Quiz")
        page.get_by_label("Callback URL").fill(
            f"{receiver_url}/cb?uid=[%UID%]&tx=[%TX%]&val=[%VAL%]"
        )
        tab.screenshot("create-app")
        page.get_by_role("button", name="Create the app").click()
        page.wait_for_url("**/admin/apps/*")
        app_id = page.url.split("/admin/apps/")[1].split("?")[0]
        token = page.inner_text('[data-credential="api_token"]')
        tab.screenshot("app-created")

        # One of its users completes a sandbox survey through the offerwall.
        user: Tab = open_tab(PHONE)
        wall = f"{wall_server.url}/offerwall?" + urlencode({"token": token, "uid": "dash-user"})
        user.page.goto(wall)
        answer_profile(user)
        view(user, "surveys")
        value = open_plain_survey(user, wall_server)
        assert user.page.inner_text("#result h1") == "Survey complete!"

        # The funnel and the revenue chart show it.
        traffic = f"{wall_server.url}/admin/traffic?app={app_id}"

        def counted() -> bool:  # impressions reach the store within the flush interval
            page.goto(traffic)
            return int(page.inner_text('[data-funnel="impressions"]').replace(",", "")) >= 1

        assert eventually(counted, seconds=10), "the listing's impressions never arrived"
        assert page.inner_text('[data-funnel="completes"]') == "1"
        assert int(page.inner_text('[data-funnel="clicks"]')) >= 1
        revenue = Decimal(page.inner_text('[data-money="revenue"]').split()[0].replace(",", ""))
        assert revenue == Decimal(str(PLAIN_CPI))
        assert page.locator("svg.chart, .chart svg, svg").count() >= 1
        assert page.inner_text('[data-money="user_payout"]').replace(",", "") == value
        tab.screenshot("traffic")

        # Its callback failed; the operator dead-letters it, the endpoint comes back, retry.
        page.goto(f"{wall_server.url}/admin/callbacks?app={app_id}")
        row = page.locator("tr[data-transaction]").first
        transaction_id = str(row.get_attribute("data-transaction"))
        assert eventually(lambda: receiver.received != [])  # it was tried and refused
        page.get_by_role("button", name=f"Dead-letter {transaction_id}").click()
        assert row_status(tab, transaction_id) == "dead"
        tab.screenshot("dead-lettered")
        receiver.failures = 0
        page.get_by_role("button", name=f"Retry {transaction_id} now").click()

        page.wait_for_url("**/admin/callbacks?*done=*")  # the retry's own redirect first
        callbacks = page.url

        def delivered() -> bool:
            page.goto(callbacks)
            return row_status(tab, transaction_id) == "delivered"

        assert eventually(delivered, seconds=20), "the retried callback was never delivered"
        assert any(f"tx={transaction_id}" in url for url in receiver.received)
        tab.screenshot("delivered")

        # Every opportunity's verdict for this user, and the one they took qualifies.
        page.goto(
            f"{wall_server.url}/admin/opportunities?"
            + urlencode({"app": app_id, "uid": "dash-user", "status": "OPEN"})
        )
        verdicts = page.locator("td[data-verdict]")
        assert verdicts.count() >= 1
        assert all(
            v != "none" for v in verdicts.evaluate_all("cells => cells.map(c => c.dataset.verdict)")
        )
        tab.screenshot("opportunities-for-the-user")

        # A ban, which the offerwall then shows the user.
        page.goto(
            f"{wall_server.url}/admin/users?" + urlencode({"app": app_id, "uid": "dash-user"})
        )
        page.get_by_label("Until (UTC)").fill("2030-01-02T03:04")
        page.get_by_label("Reason (the app is told)").fill("chargebacks")
        page.get_by_role("button", name="Ban", exact=True).click()
        assert page.get_attribute("[data-ban]", "data-ban") == "banned"
        tab.screenshot("banned")
        user.page.goto(wall)
        view(user, "restricted")
        text = user.page.inner_text('[data-restriction="banned"]')
        assert "January 2, 2030" in text
        assert "chargebacks" in text
        user.screenshot("offerwall-shows-the-ban")
        assert tab.errors == []
        assert user.errors == []
