"""The hosted offerwall in a real browser: a new user's whole path from the standard profile
to a paid survey and back, a screenout, the click flow's questions and the leave dialog,
restrictions, the wall in a publisher's iframe, both layouts, and a keyboard-only pass over
every question type."""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from surveyrouter.domain.money import RewardKind
from surveyrouter.services.apps import create_app as create_publisher_app
from surveyrouter.store.apps import find_app_by_token
from surveyrouter.store.db import transaction
from surveyrouter.store.ledger import user_entries
from surveyrouter.store.users import ban_user, find_user
from tests.e2e.conftest import DESKTOP, PHONE, TOKEN, VPN_ADDRESS, Tab, WallServer

INIT = "offerwall-core:init"
START = "offerwall-surveys:survey.start"
COMPLETE = "offerwall-surveys:survey.complete"
SCREENOUT = "offerwall-surveys:survey.screenout"
START_BONUS = "offerwall-surveys:survey.start-bonus"
US_ADDRESS = "8.8.8.8"  # registered in the United States
# What a new user types into the standard profile, by question type.
PROFILE = {"DATE": "1990-05-01", "TEXT": "10110"}


def view(tab: Tab, name: str) -> None:
    tab.page.wait_for_selector(f'#view[data-view="{name}"]')


def current_view(tab: Tab) -> str:
    tab.page.wait_for_selector('#view:not([data-view="loading"])')
    return str(tab.page.get_attribute("#view", "data-view"))


def assert_fits(tab: Tab) -> None:
    """No horizontal scrolling, and every control on the page has a size and lies inside
    the viewport's width."""
    overflow = tab.page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    outside = tab.page.evaluate(
        """() => [...document.querySelectorAll('button, input, select, a[href]')]
            .filter((node) => !node.closest('[hidden]') && node.getClientRects().length)
            .filter((node) => {
              const box = node.getBoundingClientRect();
              return box.width < 1 || box.height < 1 || box.left < 0
                || box.right > document.documentElement.clientWidth + 0.5;
            })
            .map((node) => node.outerHTML.slice(0, 120))"""
    )
    assert outside == [], f"controls cut off or invisible: {outside}"
    unlabelled = tab.page.evaluate(
        """() => [...document.querySelectorAll('button, input, select')]
            .filter((node) => !(node.labels?.length || node.getAttribute('aria-label')
              || (node.tagName === 'BUTTON' && node.textContent.trim())))
            .map((node) => node.outerHTML.slice(0, 120))"""
    )
    assert unlabelled == [], f"controls without a label: {unlabelled}"


def answer_profile(tab: Tab) -> None:
    """Answers the standard profile with the mouse, one screenshot per question."""
    for _ in range(5):
        if current_view(tab) != "profile":
            return
        form = tab.page.locator("form.question")
        kind = form.get_attribute("data-type")
        question = form.get_attribute("data-question-id")
        tab.screenshot(f"profile-{question}")
        assert_fits(tab)
        if kind == "SINGLE":
            form.locator("input").first.check()
        else:
            assert kind is not None
            form.locator("input").fill(PROFILE[kind])
        form.locator("button[type=submit]").click()
        answered(tab, question)
    raise AssertionError("the standard profile never ended")


def answered(tab: Tab, question: str | None) -> None:
    """Waits until the form of ``question`` has made way for what comes next."""
    tab.page.locator(f'form.question[data-question-id="{question}"]').wait_for(state="detached")


def earned(server: WallServer, uid: str) -> list[tuple[RewardKind, Decimal]]:
    with server.runtime.sessions() as session:
        app = find_app_by_token(session, TOKEN)
        assert app is not None
        assert app.id is not None
        user = find_user(session, app.id, uid)
        assert user is not None
        return [(entry.reward.kind, entry.reward.value) for entry in user_entries(session, user.id)]


def open_plain_survey(tab: Tab, server: WallServer) -> str:
    """Clicks the first of the surveys anyone qualifies for; its value as the card shows it."""
    card = tab.page.locator(f'button.card[data-survey-id="{server.plain[0]}"]')
    value = card.locator(".card-value").inner_text()
    card.click()
    tab.page.wait_for_url("**/v1/exchanges/result/**")
    tab.page.wait_for_selector("#result")
    return value


def coins(text: str) -> Decimal:
    assert text.endswith(" Coins"), text
    return Decimal(text.removesuffix(" Coins"))


def test_a_new_user_answers_the_profile_completes_a_survey_and_sees_the_reward(
    wall_server: WallServer, open_tab: Any
) -> None:
    wall_server.force("1.0")
    tab: Tab = open_tab(PHONE)
    tab.page.goto(
        wall_server.wall(
            "new-complete", sdk="NATIVE", os="ANDROID", username="WinterFox", campaign="winter"
        )
    )
    answer_profile(tab)

    view(tab, "start-bonus")
    assert "You earned 25 Coins" in tab.page.inner_text("#result")
    tab.screenshot("start-bonus")
    tab.page.click("#back")
    view(tab, "surveys")
    tab.screenshot("surveys")
    assert_fits(tab)
    value = open_plain_survey(tab, wall_server)

    assert tab.page.inner_text("#result h1") == "Survey complete!"
    assert f"You earned {value}" in tab.page.inner_text("#result")
    tab.screenshot("complete")
    assert_fits(tab)
    tab.wait_for_hook(COMPLETE)
    assert tab.hook_names() == [INIT, START_BONUS, START, COMPLETE]
    assert tab.hooks[1]["args"] == [{"reward": 25.0}]
    started = tab.hooks[2]["args"][0]
    assert started["clickId"]
    assert started["link"].startswith(f"{wall_server.url}/sandbox/rex/start")
    assert tab.hooks[3]["args"] == [{"reward": float(coins(value))}]
    assert earned(wall_server, "new-complete") == [
        (RewardKind.START_BONUS, Decimal(25)),
        (RewardKind.COMPLETE, coins(value)),
    ]

    # Back on the wall with the same parameters; the leaderboard counts the complete.
    tab.page.click("#back")
    view(tab, "surveys")
    assert "sdk=NATIVE" in tab.page.url
    assert "campaign=winter" in tab.page.url
    own = tab.page.locator(".leaderboard tr.own")
    assert "WinterFox" in own.inner_text()
    assert "You are number" in tab.page.inner_text(".leaderboard .own-rank")
    tab.screenshot("leaderboard")
    tab.wait_for_hook(INIT, times=2)
    tab.page.click("#close")  # shown because the SDK opened the wall (sdk=NATIVE)
    tab.wait_for_hook("offerwall-core:sdk.close")
    assert tab.hook_names()[-2:] == [INIT, "offerwall-core:sdk.close"]
    assert tab.errors == []


def test_a_screenout_shows_the_screenout_reward_and_fires_its_hook(
    wall_server: WallServer, open_tab: Any
) -> None:
    wall_server.force("2.2")
    tab: Tab = open_tab(DESKTOP)
    tab.page.goto(wall_server.wall("new-screenout"))
    answer_profile(tab)
    view(tab, "start-bonus")
    tab.page.click("#back")
    view(tab, "surveys")
    tab.screenshot("surveys")
    assert_fits(tab)
    open_plain_survey(tab, wall_server)

    assert tab.page.inner_text("#result h1") == "This survey did not work out this time"
    # The app pays $0.05 for a screenout: 50 Coins at 1,000 Coins per dollar.
    assert "You still earned 50 Coins" in tab.page.inner_text("#result")
    tab.screenshot("screenout")
    assert_fits(tab)
    tab.wait_for_hook(SCREENOUT)
    assert tab.hook_names() == [INIT, START_BONUS, START, SCREENOUT]
    assert tab.hooks[3]["args"] == [{"reward": 50.0}]
    assert tab.errors == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_vpn_user_sees_the_restriction(
    wall_server: WallServer, open_tab: Any, viewport: dict[str, int]
) -> None:
    tab: Tab = open_tab(viewport, extra_http_headers={"X-Forwarded-For": VPN_ADDRESS})
    tab.page.goto(wall_server.wall(f"vpn-{viewport['width']}"))
    view(tab, "restricted")
    notice = tab.page.locator('[data-restriction="using_vpn"]')
    assert "VPN or proxy" in notice.inner_text()
    tab.screenshot("vpn")
    assert_fits(tab)
    tab.wait_for_hook(INIT)
    assert tab.hook_names() == [INIT]


def test_a_banned_user_sees_until_when_and_why(wall_server: WallServer, open_tab: Any) -> None:
    tab: Tab = open_tab(PHONE)
    tab.page.goto(wall_server.wall("banned-user"))
    answer_profile(tab)
    with transaction(wall_server.runtime.sessions) as session:
        user = find_user(session, wall_server.app.id or 0, "banned-user")
        assert user is not None
        until = datetime.now(UTC) + timedelta(days=3)
        ban_user(session, user.id, until, "duplicate accounts")
    tab.page.reload()
    view(tab, "restricted")
    text = tab.page.inner_text('[data-restriction="banned"]')
    assert "Your account is blocked until" in text
    assert until.strftime("%B") in text
    assert "Reason: duplicate accounts" in text
    tab.screenshot("banned")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_every_step_fits_the_screen_and_the_leave_dialog_tells_the_api(
    wall_server: WallServer, open_tab: Any, viewport: dict[str, int]
) -> None:
    tab: Tab = open_tab(viewport)
    uid = f"leaver-{viewport['width']}"
    tab.page.goto(wall_server.wall(uid))
    answer_profile(tab)
    view(tab, "start-bonus")
    assert_fits(tab)
    tab.page.click("#back")
    view(tab, "surveys")
    with tab.page.expect_response("**/v2/client/clicks?*") as created:
        tab.page.click(f'button.card[data-survey-id="{wall_server.asking}"]')
    click_id = created.value.json()["data"]["id"]
    view(tab, "click-question")
    tab.screenshot("click-question")
    assert_fits(tab)
    assert "Question 1 of 2" in tab.page.inner_text("#view")

    tab.page.click("#leave")
    dialog = tab.page.locator("#leave-dialog")
    dialog.wait_for()
    reasons = dialog.locator("label.choice").all_inner_texts()
    assert reasons == [
        "Too sensitive",
        "Uninteresting",
        "Technical issues",
        "Too long",
        "Other reasons",
    ]
    tab.screenshot("leave-dialog")
    assert_fits(tab)
    dialog.get_by_label("Too long").check()
    dialog.get_by_role("button", name="Leave survey").click()
    view(tab, "surveys")
    assert tab.page.locator("#leave-dialog").count() == 0

    state = tab.page.request.get(
        f"{wall_server.url}/v2/client/clicks/{click_id}",
        headers={"X-Api-Token": TOKEN, "X-User-Id": uid},
    )
    assert state.status == 200
    assert state.json()["data"]["redirect"]["type"] == "termination"
    assert tab.errors == []


def test_a_keyboard_alone_answers_every_question_type_and_opens_a_survey(
    wall_server: WallServer, open_tab: Any
) -> None:
    wall_server.force("1.0")
    tab: Tab = open_tab(DESKTOP)
    page = tab.page
    page.goto(wall_server.wall("keyboard-only"))
    kinds: list[str] = []

    def tab_to(selector: str) -> None:
        for _ in range(60):
            if page.evaluate(f"() => document.activeElement.matches({selector!r})"):
                return
            page.keyboard.press("Tab")
        raise AssertionError(f"Tab never reached {selector}")

    def answer_by_keyboard() -> None:
        form = page.locator("form.question")
        kind = str(form.get_attribute("data-type"))
        question = form.get_attribute("data-question-id")
        focused = page.evaluate("() => document.activeElement.outerHTML.slice(0, 80)")
        assert "<input" in focused or "<select" in focused, focused  # the focus starts there
        if kind == "DATE":
            page.keyboard.type("05011990")  # mm/dd/yyyy in an en-US browser
        elif kind == "TEXT":
            page.keyboard.type("10110")
        elif kind == "NUMBER":
            page.keyboard.type("2")
        elif kind == "SINGLE":
            page.keyboard.press("Space")  # the first radio button
        elif kind == "MULTI":
            page.keyboard.press("Space")  # the first box: a dog, which the survey wants
        else:
            raise AssertionError(kind)
        tab.screenshot(f"keyboard-{kind.lower()}")
        kinds.append(kind)
        tab_to("form.question button[type=submit]")
        page.keyboard.press("Enter")
        answered(tab, question)

    while current_view(tab) == "profile":
        answer_by_keyboard()
    view(tab, "start-bonus")
    tab_to("#back")
    page.keyboard.press("Enter")
    view(tab, "surveys")
    tab_to(f'button.card[data-survey-id="{wall_server.asking}"]')
    outline_width = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return s.outlineStyle === 'none' ? 0 : parseFloat(s.outlineWidth); }"
    )
    assert outline_width >= 2, "the keyboard focus is not visible"
    tab.screenshot("keyboard-card-focused")
    page.keyboard.press("Enter")
    # The click flow asks its questions, then the browser leaves for the survey and comes
    # back to the result page.
    while page.wait_for_selector("form.question, #result").get_attribute("id") != "result":
        answer_by_keyboard()
    assert page.inner_text("#result h1") == "Survey complete!"
    assert sorted(kinds) == ["DATE", "MULTI", "NUMBER", "SINGLE", "TEXT"]
    tab.screenshot("keyboard-complete")
    tab.wait_for_hook(COMPLETE)
    assert tab.hook_names()[-2:] == [START, COMPLETE]


def test_a_wrong_answer_is_refused_inline_with_the_apis_rules(
    wall_server: WallServer, open_tab: Any
) -> None:
    tab: Tab = open_tab(PHONE)
    tab.page.goto(wall_server.wall("validated", lang="de"))
    view(tab, "profile")
    assert tab.page.inner_text("#view h2") == "Erzähl uns etwas über dich"
    form = tab.page.locator("form.question")
    form.locator("button[type=submit]").click()
    error = form.locator(".field-error")
    assert error.is_visible()
    assert error.inner_text().startswith("Bitte")
    assert form.locator("[aria-invalid=true]").count() >= 1
    tab.screenshot("refused-inline")


def publisher(server: WallServer, token: str, **settings: Any) -> None:
    create_publisher_app(
        server.runtime.sessions,
        lambda: datetime.now(UTC),
        {
            "name": f"App {token[:8]}",
            "api_token": token,
            "secret": "another-app-secret-01",
            **settings,
        },
    )


@pytest.mark.parametrize(
    ("settings", "view_name", "selector", "words"),
    [
        (
            {"verified": False},
            "restricted",
            '[data-restriction="not_verified"]',
            "has not been verified yet",
        ),
        (
            # The user's IP (behind the trusted proxy) is American; the app serves Germany.
            {"allowed_countries": frozenset({"DE"}), "default_country": "DE"},
            "restricted",
            '[data-restriction="unsupported_country"]',
            "not available in your country",
        ),
        # A user the app places in New Zealand, where the sandbox has no surveys.
        (
            {"default_country": "NZ"},
            "surveys",
            ".empty",
            "No surveys right now",
        ),
    ],
    ids=["unverified-app", "unsupported-country", "no-surveys"],
)
def test_every_restriction_and_an_empty_list_say_so_plainly(
    wall_server: WallServer,
    open_tab: Any,
    settings: dict[str, Any],
    view_name: str,
    selector: str,
    words: str,
) -> None:
    token = f"restricted-{view_name}-{len(settings)}-{sorted(settings)[0]}"[:40].ljust(16, "x")
    publisher(wall_server, token, **settings)
    # American by IP (behind the trusted proxy); else nowhere, so in the app's default country.
    address = {"X-Forwarded-For": US_ADDRESS} if "allowed_countries" in settings else {}
    tab: Tab = open_tab(PHONE, extra_http_headers=address)
    tab.page.goto(f"{wall_server.url}/offerwall?token={token}&uid=someone")
    if current_view(tab) == "profile":
        answer_profile(tab)
    view(tab, view_name)
    assert words in tab.page.inner_text(selector)
    assert tab.page.locator(".leaderboard").count() == 0  # these apps have it off
    tab.screenshot(view_name)
    assert_fits(tab)


def test_a_user_back_from_an_unfinished_survey_is_asked_why_they_left(
    wall_server: WallServer, open_tab: Any
) -> None:
    wall_server.force("abandoned")  # the sandbox's survey page never sends the user back
    tab: Tab = open_tab(PHONE)
    uid = "came-back"
    tab.page.goto(wall_server.wall(uid))
    answer_profile(tab)
    view(tab, "start-bonus")
    tab.page.click("#back")
    view(tab, "surveys")
    tab.page.click(f'button.card[data-survey-id="{wall_server.plain[0]}"]')
    tab.page.wait_for_url("**/sandbox/rex/start?**")
    tab.wait_for_hook(START)

    tab.page.go_back()
    dialog = tab.page.locator("#leave-dialog")
    dialog.wait_for()
    assert "Did you leave the survey?" in dialog.inner_text()
    tab.screenshot("back-from-survey")
    assert_fits(tab)
    dialog.get_by_label("Technical issues").check()
    dialog.get_by_role("button", name="Leave survey").click()
    view(tab, "surveys")

    history = tab.page.request.get(
        f"{wall_server.url}/v1/client/user/history",
        headers={"X-Api-Token": TOKEN, "X-User-Id": uid},
    )
    assert [event["type"] for event in history.json()["data"]] == ["LEAVE"]
    # Seen once: the wall does not ask again on the next visit.
    tab.page.reload()
    view(tab, "surveys")
    assert tab.page.locator("#leave-dialog").count() == 0


# A publisher's page embedding the wall, on an origin of its own; it keeps every hook that
# reaches it, with whether the wall's frame sent it.
HOST_PAGE = """<!doctype html>
<title>Publisher</title>
<iframe id="wall" src="%s" width="390" height="800"></iframe>
<script>
  window.received = [];
  window.addEventListener("message", (event) => {
    if (event.data && event.data.type === "hook") {
      const wall = document.getElementById("wall").contentWindow;
      window.received.push(
        { name: event.data.name, args: event.data.args, fromWall: event.source === wall });
    }
  });
</script>"""


@contextmanager
def host_page(body: str) -> Iterator[str]:
    """``body`` served at a URL of its own: another origin (port) than the wall's, on
    loopback too, since Chromium lets no public page frame a loopback server."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            encoded = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, *_: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/earn"
    finally:
        server.shutdown()
        server.server_close()


def imported(server: WallServer, uid: str) -> None:
    """A user whose standard profile the publisher imported: the wall opens on the surveys."""
    user = {"uid": uid, "country": "US", "languages": ["en"], "birthdate": "1990-05-01",
            "gender": "FEMALE", "zipcode": "10110", "questions": []}  # fmt: skip
    response = httpx.post(
        f"{server.url}/v1/publishers/users",
        headers={"X-S2S-Token": server.app.s2s_token},
        json={"users": [user]},
    )
    assert response.json()["data"] == {"success_count": 1, "errors": []}


def test_in_an_iframe_the_survey_opens_once_in_a_tab_and_the_hooks_reach_the_host(
    wall_server: WallServer, open_tab: Any
) -> None:
    wall_server.force("1.0")
    uid = "framed"
    imported(wall_server, uid)
    tab: Tab = open_tab(DESKTOP)
    with host_page(HOST_PAGE % html.escape(wall_server.wall(uid, sdk="IFRAME"))) as host:
        tab.page.goto(host)
        wall = tab.page.frame_locator("#wall")
        wall.locator('#view[data-view="surveys"]').wait_for()
        tab.screenshot("framed-surveys")
        card = wall.locator(f'button.card[data-survey-id="{wall_server.plain[0]}"]')
        value = coins(card.locator(".card-value").inner_text())

        with tab.page.context.expect_page() as opened:
            card.click()
        survey = opened.value
        survey.wait_for_url("**/v1/exchanges/result/**")
        survey.wait_for_selector("#result")
        assert survey.evaluate("() => window.opener") is None  # it cannot reach the wall

        # The frame stayed on the wall: the survey was entered once, in the new tab.
        wall.locator('#view[data-view="surveys"]').wait_for()
        framed = next(frame for frame in tab.page.frames if frame is not tab.page.main_frame)
        assert "/offerwall?" in framed.url
        assert earned(wall_server, uid) == [(RewardKind.COMPLETE, value)]
        # The result page's hook stays in the survey's tab; the frame learns the outcome
        # from the server and tells the host, once.
        tab.page.wait_for_function(
            f"() => window.received.some((hook) => hook.name === {COMPLETE!r})", timeout=20_000
        )
        tab.page.wait_for_timeout(5_000)  # a watch that went on would tell it again
        received = tab.page.evaluate("() => window.received")
        # The frame never left the wall: reloaded, it does not ask why the user left.
        framed.goto(framed.url)
        wall.locator('#view[data-view="surveys"]').wait_for()
        assert wall.locator("#leave-dialog").count() == 0
    assert [hook["name"] for hook in received][:2] == [INIT, START]
    assert all(hook["fromWall"] for hook in received)
    completes = [hook for hook in received if hook["name"] == COMPLETE]
    assert [hook["args"] for hook in completes] == [[{"reward": float(value)}]]
    assert tab.errors == []
