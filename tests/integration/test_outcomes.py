"""Exchange returns and callbacks over real HTTP, on SQLite and PostgreSQL: the first outcome
ends the click and pays once (ledger entry and publisher callback together), every replay
changes nothing, and every refusal answers in the envelope with nothing written."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import Runtime, sandbox_options
from surveyrouter.clock import utc_now
from surveyrouter.domain.apps import App
from surveyrouter.domain.callbacks import verify_callback
from surveyrouter.domain.clicks import Click, ClickStatus, OutcomeSource, new_click_id
from surveyrouter.domain.money import Reward, RewardKind
from surveyrouter.domain.users import User
from surveyrouter.networks.rex.signing import KeyPair, sign_request, sign_url
from surveyrouter.services.apps import create_app as create_publisher_app
from surveyrouter.store.clicks import add_click, get_click
from surveyrouter.store.db import transaction
from surveyrouter.store.ledger import LedgerEntry, user_entries
from surveyrouter.store.outbox import get_callback
from surveyrouter.store.schema import CallbackOutboxRow
from surveyrouter.store.users import user_on_sight
from tests.integration.test_server import HTTP_TIMEOUT, assert_error_envelope, serving

SECRET = "publisher-secret-0001"
CALLBACK = (
    "https://pub.example/cb?uid=[%UID%]&val=[%VAL%]&raw=[%RAW%]&tx=[%TX%]&type=[%TYPE%]&ip=[%IP%]"
)
COMPLETE_URL = "https://pub.example/done?uid=[%UID%]&val=[%VAL%]&tx=[%TX%]&type=[%TYPE%]"
SCREENOUT_URL = "https://pub.example/screenout?uid=[%UID%]&val=[%VAL%]&type=[%TYPE%]"
TERMINATION_URL = "https://pub.example/terminated?uid=[%UID%]&tx=[%TX%]"
REDIRECTS = {
    "redirect_complete_url": COMPLETE_URL,
    "redirect_screenout_url": SCREENOUT_URL,
    "redirect_termination_url": TERMINATION_URL,
}
# 1.23 × the default revenue share 0.7 = 0.861 → 0.86 USD → 860 Points (factor 1000).
CPI = Decimal("1.23")
COMPLETE = Reward(RewardKind.COMPLETE, Decimal("0.86"), Decimal(860))
SCREENOUT = Reward(RewardKind.SCREENOUT, Decimal("0.02"), Decimal(20))
RETURN_PATH = "/v1/exchanges/sandbox/return"
CALLBACK_PATH = "/v1/exchanges/sandbox/callback"
REX_KEYS = KeyPair("rex-redirect-access-key", "rex-redirect-secret")


def publisher(runtime: Runtime, name: str = "Quiz", **settings: Any) -> App:
    return create_publisher_app(
        runtime.sessions,
        utc_now,
        {"name": name, "secret": SECRET, "callback_url": CALLBACK, **settings},
    )


def person(runtime: Runtime, app: App, uid: str = "user-1") -> User:
    assert app.id is not None
    with transaction(runtime.sessions) as session:
        return user_on_sight(session, app.id, uid, utc_now())[0]


def open_click(runtime: Runtime, user: User, network_id: str = "sandbox") -> Click:
    click = Click(
        id=new_click_id(),
        app_id=user.app_id,
        user_id=user.id,
        network_id=network_id,
        opportunity_id=9001,
        exchange_cpi=CPI,
        loi_minutes=12,
        created_at=utc_now(),
        project_id=501,
        category_ids=(3,),
    )
    with transaction(runtime.sessions) as session:
        add_click(session, click)
    return click


def sandbox_keys(runtime: Runtime) -> KeyPair:
    settings = runtime.settings
    return KeyPair(
        settings.sandbox_redirect_access_key,
        settings.sandbox_redirect_secret_key.get_secret_value(),
    )


def signed_return(
    runtime: Runtime,
    click_id: str | None,
    ending: tuple[str, str] | tuple[int, int] | None,
    *,
    expires_at: datetime | None = None,
    keys: KeyPair | None = None,
    path: str = RETURN_PATH,
) -> str:
    parameters = {"sr_click": click_id} if click_id is not None else {}
    if ending is not None:
        parameters |= {"disposition": str(ending[0]), "status": str(ending[1])}
    return sign_url(
        path,
        keys or sandbox_keys(runtime),
        expires_at or utc_now() + timedelta(minutes=5),
        parameters,
    )


def callback_body(
    respondent_id: str, click_id: str | None, ending: tuple[int, int] = (1, 0)
) -> bytes:
    # As the sandbox gateway writes it (sandbox.gateway.GatewaySimulator._leave, REX §1.5).
    parameters = {"sr_click": click_id} if click_id is not None else {}
    document = {
        "respondent_id": respondent_id,
        "disposition": ending[0],
        "status": ending[1],
        "parameters": parameters,
    }
    return json.dumps(document).encode()


def post_callback(
    http: httpx.Client,
    runtime: Runtime,
    body: bytes,
    *,
    keys: KeyPair | None = None,
    path: str = CALLBACK_PATH,
) -> httpx.Response:
    headers = sign_request(keys or sandbox_keys(runtime), body, utc_now() + timedelta(minutes=5))
    headers["Content-Type"] = "application/json"
    return http.post(path, content=body, headers=headers)


def ledger(runtime: Runtime, user: User) -> list[LedgerEntry]:
    with runtime.sessions() as session:
        return user_entries(session, user.id)


def outbox_size(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(CallbackOutboxRow)) or 0


def stored(runtime: Runtime, click: Click) -> Click:
    with runtime.sessions() as session:
        found = get_click(session, click.id)
    assert found is not None
    return found


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


@pytest.fixture
def app(runtime: Runtime) -> App:
    return publisher(runtime, **REDIRECTS)


@pytest.fixture
def user(runtime: Runtime, app: App) -> User:
    return person(runtime, app)


@pytest.fixture
def http(runtime: Runtime) -> Iterator[httpx.Client]:
    with (
        serving(create_app(runtime)) as url,
        httpx.Client(timeout=HTTP_TIMEOUT, base_url=url) as client,
    ):
        yield client


def test_a_complete_pays_one_ledger_entry_and_queues_one_callback(
    http: httpx.Client, runtime: Runtime, app: App, user: User
) -> None:
    click = open_click(runtime, user)

    response = http.get(signed_return(runtime, click.id, (1, 0)))

    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("https://pub.example/done?")
    assert query_of(location) == {
        "uid": ["user-1"],
        "val": ["860"],
        "tx": [click.id],
        "type": ["COMPLETE"],
    }
    [entry] = ledger(runtime, user)
    assert (entry.transaction_id, entry.reward) == (click.id, COMPLETE)
    with runtime.sessions() as session:
        queued = get_callback(session, click.id)
    assert queued is not None
    assert verify_callback(queued.url, SECRET)
    assert query_of(queued.url)["val"] == ["860"]
    assert query_of(queued.url)["raw"] == ["0.86"]
    assert query_of(queued.url)["ip"] == ["127.0.0.1"]
    assert outbox_size(runtime) == 1
    ended = stored(runtime, click)
    assert ended.status is ClickStatus.COMPLETE
    assert (ended.disposition, ended.disposition_status) == (1, 0)
    assert ended.outcome_source is OutcomeSource.RETURN
    assert ended.ended_at is not None


def test_a_replayed_return_records_nothing_and_redirects_the_same(
    http: httpx.Client, runtime: Runtime, user: User
) -> None:
    click = open_click(runtime, user)
    link = signed_return(runtime, click.id, (1, 0))

    first = http.get(link)
    again = http.get(link)

    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert len(ledger(runtime, user)) == 1
    assert outbox_size(runtime) == 1


def test_a_return_then_its_callback_pay_once(
    http: httpx.Client, runtime: Runtime, user: User
) -> None:
    click = open_click(runtime, user)

    returned = http.get(signed_return(runtime, click.id, (1, 0)))
    called = post_callback(http, runtime, callback_body(user.respondent_id, click.id))

    assert returned.status_code == 303
    assert called.status_code == 200
    assert called.json()["data"] == {"recorded": False}
    assert called.json()["status"] == "success"
    assert [e.reward for e in ledger(runtime, user)] == [COMPLETE]
    assert stored(runtime, click).outcome_source is OutcomeSource.RETURN


def test_a_callback_then_its_return_pay_once_and_the_user_still_sees_the_reward(
    http: httpx.Client, runtime: Runtime, user: User
) -> None:
    click = open_click(runtime, user)

    called = post_callback(http, runtime, callback_body(user.respondent_id, click.id))
    returned = http.get(signed_return(runtime, click.id, (1, 0)))

    assert called.status_code == 200
    assert called.json()["data"] == {"recorded": True}
    assert returned.status_code == 303
    assert query_of(returned.headers["location"])["val"] == ["860"]
    assert [e.reward for e in ledger(runtime, user)] == [COMPLETE]
    assert outbox_size(runtime) == 1
    ended = stored(runtime, click)
    assert ended.outcome_source is OutcomeSource.CALLBACK
    # The callback's ip is the exchange's server, not the user's: none is recorded.
    with runtime.sessions() as session:
        queued = get_callback(session, click.id)
    assert queued is not None
    assert query_of(queued.url)["ip"] == [""]


def test_the_first_outcome_wins_when_the_return_says_otherwise(
    http: httpx.Client, runtime: Runtime, user: User
) -> None:
    click = open_click(runtime, user)
    post_callback(http, runtime, callback_body(user.respondent_id, click.id, (2, 1)))

    returned = http.get(signed_return(runtime, click.id, (1, 0)))

    assert returned.status_code == 303
    assert returned.headers["location"].startswith("https://pub.example/screenout?")
    assert ledger(runtime, user) == []
    assert stored(runtime, click).status is ClickStatus.SCREENOUT


def test_a_return_and_its_callback_arriving_together_pay_once(
    http: httpx.Client, runtime: Runtime, user: User
) -> None:
    clicks = [open_click(runtime, user) for _ in range(4)]

    def both(click: Click) -> tuple[int, int]:
        with ThreadPoolExecutor(2) as pool:
            returned = pool.submit(http.get, signed_return(runtime, click.id, (1, 0)))
            body = callback_body(user.respondent_id, click.id)
            called = pool.submit(post_callback, http, runtime, body)
            return returned.result().status_code, called.result().status_code

    assert [both(click) for click in clicks] == [(303, 200)] * len(clicks)
    assert sorted(e.transaction_id for e in ledger(runtime, user)) == sorted(c.id for c in clicks)
    assert outbox_size(runtime) == len(clicks)


@pytest.mark.parametrize(
    ("ending", "screenout_reward", "reward", "status", "redirect"),
    [
        ((1, 1), None, COMPLETE, ClickStatus.COMPLETE, COMPLETE_URL),  # partial complete
        ((2, 2), Decimal("0.02"), SCREENOUT, ClickStatus.SCREENOUT, SCREENOUT_URL),
        ((2, 2), None, None, ClickStatus.SCREENOUT, SCREENOUT_URL),
        ((3, 2), Decimal("0.02"), SCREENOUT, ClickStatus.OVERQUOTA, SCREENOUT_URL),
        ((3, 2), None, None, ClickStatus.OVERQUOTA, SCREENOUT_URL),
        ((2, 1), Decimal("0.02"), None, ClickStatus.SCREENOUT, SCREENOUT_URL),  # Dynata's own
        ((3, 1), Decimal("0.02"), None, ClickStatus.OVERQUOTA, SCREENOUT_URL),
        ((4, 1), Decimal("0.02"), None, ClickStatus.DUPLICATE, TERMINATION_URL),
        ((5, 2), Decimal("0.02"), None, ClickStatus.QUALITY, TERMINATION_URL),
        ((0, 0), Decimal("0.02"), None, ClickStatus.ERROR, TERMINATION_URL),
        ((2, 99), Decimal("0.02"), None, ClickStatus.SCREENOUT, SCREENOUT_URL),  # unlisted
    ],
)
def test_each_ending_pays_what_it_earns_and_goes_to_its_redirect(
    http: httpx.Client,
    runtime: Runtime,
    ending: tuple[int, int],
    screenout_reward: Decimal | None,
    reward: Reward | None,
    status: ClickStatus,
    redirect: str,
) -> None:
    app = publisher(runtime, screenout_reward=screenout_reward, **REDIRECTS)
    user = person(runtime, app)
    click = open_click(runtime, user)

    response = http.get(signed_return(runtime, click.id, ending))

    assert response.status_code == 303
    location = response.headers["location"]
    assert location.split("?")[0] == redirect.split("?")[0]
    assert "[%" not in location
    assert [e.reward for e in ledger(runtime, user)] == ([reward] if reward else [])
    assert outbox_size(runtime) == (1 if reward else 0)
    assert stored(runtime, click).status is status
    if redirect == SCREENOUT_URL:
        expected = reward or Reward(RewardKind.SCREENOUT, Decimal(0), Decimal(0))
        assert query_of(location)["val"] == [str(expected.value)]
        assert query_of(location)["type"] == ([reward.kind.value] if reward else [""])


def test_an_app_without_redirect_urls_sends_the_user_to_our_result_page(
    http: httpx.Client, runtime: Runtime
) -> None:
    plain = publisher(runtime, "Plain")
    user = person(runtime, plain)
    completed, screened_out = open_click(runtime, user), open_click(runtime, user)

    done = http.get(signed_return(runtime, completed.id, (1, 0)))
    out = http.get(signed_return(runtime, screened_out.id, (2, 1)))

    assert done.status_code == 303
    assert done.headers["location"] == f"/v1/exchanges/result/{completed.id}"
    page = http.get(done.headers["location"])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Survey complete!</h1>" in page.text
    assert 'You earned <span class="amount">860 Points</span>' in page.text
    # The offerwall hook the SDKs listen for, with the reward in app currency.
    assert '"hook":{"name":"offerwall-surveys:survey.complete","args":[{"reward":860.0}]}' in (
        page.text
    )
    assert f'href="/offerwall?token={plain.api_token}&amp;uid=user-1"' in page.text
    other_page = http.get(out.headers["location"])
    assert "This survey did not work out this time" in other_page.text
    assert "earned" not in other_page.text
    assert '"args":[{"reward":0.0}]' in other_page.text


def test_the_result_page_speaks_the_users_language(http: httpx.Client, runtime: Runtime) -> None:
    user = person(runtime, publisher(runtime, "Sprachen"))
    completed = open_click(runtime, user)
    http.get(signed_return(runtime, completed.id, (1, 0)))

    page = http.get(
        f"/v1/exchanges/result/{completed.id}", headers={"Accept-Language": "de-DE,de;q=0.9"}
    )

    assert '<html lang="de">' in page.text
    assert "Umfrage abgeschlossen!" in page.text


def test_the_result_page_shows_the_apps_own_currency(http: httpx.Client, runtime: Runtime) -> None:
    coins = publisher(
        runtime,
        "Coins",
        currency_factor=Decimal(2),
        currency_whole_units=False,
        currency_symbol="${value}",
        screenout_reward=Decimal("0.25"),
    )
    user = person(runtime, coins)
    completed, screened_out = open_click(runtime, user), open_click(runtime, user)
    http.get(signed_return(runtime, completed.id, (1, 0)))
    http.get(signed_return(runtime, screened_out.id, (3, 2)))

    assert 'You earned <span class="amount">$1.72</span>' in (
        http.get(f"/v1/exchanges/result/{completed.id}").text
    )
    assert 'You still earned <span class="amount">$0.50</span>' in (
        http.get(f"/v1/exchanges/result/{screened_out.id}").text
    )


def test_the_result_page_of_an_unknown_click_is_a_404_in_the_envelope(
    http: httpx.Client,
) -> None:
    response = http.get(f"/v1/exchanges/result/{'0' * 32}")
    assert response.status_code == 404
    assert_error_envelope(response, "404 Not Found")


def test_a_late_return_within_the_grace_period_still_pays(
    http: httpx.Client, runtime: Runtime, user: User
) -> None:
    click = open_click(runtime, user)
    expired = utc_now() - timedelta(hours=runtime.settings.return_grace_hours - 1)

    response = http.get(signed_return(runtime, click.id, (1, 0), expires_at=expired))

    assert response.status_code == 303
    assert [e.reward for e in ledger(runtime, user)] == [COMPLETE]


def test_a_return_past_the_grace_period_is_gone_and_records_nothing(
    http: httpx.Client, runtime: Runtime, user: User
) -> None:
    click = open_click(runtime, user)
    expired = utc_now() - timedelta(hours=runtime.settings.return_grace_hours + 1)

    response = http.get(signed_return(runtime, click.id, (1, 0), expires_at=expired))

    assert response.status_code == 410
    assert_error_envelope(response, "410 Gone")
    assert ledger(runtime, user) == []
    assert stored(runtime, click).status is ClickStatus.STARTED


def forged(runtime: Runtime, click_id: str) -> str:
    return signed_return(
        runtime, click_id, (1, 0), keys=KeyPair(sandbox_keys(runtime).access_key, "guessed")
    )


def tampered(runtime: Runtime, click_id: str) -> str:
    link = signed_return(runtime, click_id, (2, 1))
    assert "disposition=2" in link
    return link.replace("disposition=2", "disposition=1")


def unknown_key(runtime: Runtime, click_id: str) -> str:
    return signed_return(runtime, click_id, (1, 0), keys=KeyPair("someone-else", "secret"))


def unsigned(runtime: Runtime, click_id: str) -> str:
    return f"{RETURN_PATH}?sr_click={click_id}&disposition=1&status=0"


@pytest.mark.parametrize("link", [forged, tampered, unknown_key, unsigned])
def test_a_return_without_an_authentic_signature_is_refused_with_401(
    http: httpx.Client, runtime: Runtime, user: User, link: Any
) -> None:
    click = open_click(runtime, user)

    response = http.get(link(runtime, click.id))

    assert response.status_code == 401
    assert_error_envelope(response, "401 Unauthorized")
    assert ledger(runtime, user) == []
    assert stored(runtime, click).status is ClickStatus.STARTED


@pytest.mark.parametrize(
    ("ending", "with_click"),
    [(None, True), (("x", "0"), True), (("1", ""), True), (("-1", "0"), True), ((1, 0), False)],
)
def test_a_return_we_cannot_read_is_a_400(
    http: httpx.Client,
    runtime: Runtime,
    user: User,
    ending: tuple[str, str] | None,
    with_click: bool,
) -> None:
    click = open_click(runtime, user)

    response = http.get(signed_return(runtime, click.id if with_click else None, ending))

    assert response.status_code == 400
    assert_error_envelope(response, "400 Bad Request")
    assert stored(runtime, click).status is ClickStatus.STARTED


def test_a_return_for_an_unknown_click_or_another_networks_is_a_404(
    http: httpx.Client, runtime: Runtime, user: User
) -> None:
    on_rex = open_click(runtime, user, network_id="rex")

    unknown = http.get(signed_return(runtime, "0" * 32, (1, 0)))
    elsewhere = http.get(signed_return(runtime, on_rex.id, (1, 0)))

    for response in (unknown, elsewhere):
        assert response.status_code == 404
        assert_error_envelope(response, "404 Not Found")
    assert stored(runtime, on_rex).status is ClickStatus.STARTED


@pytest.mark.parametrize("network", ["nope", "rex"])  # REX's redirect keys are not set here
def test_a_network_we_cannot_verify_is_a_404(
    http: httpx.Client, runtime: Runtime, user: User, network: str
) -> None:
    click = open_click(runtime, user, network_id="rex")
    path = f"/v1/exchanges/{network}/return"

    returned = http.get(signed_return(runtime, click.id, (1, 0), path=path))
    body = callback_body(user.respondent_id, click.id)
    called = post_callback(http, runtime, body, path=f"/v1/exchanges/{network}/callback")

    for response in (returned, called):
        assert response.status_code == 404
        assert_error_envelope(response, "404 Not Found")


def test_rex_outcomes_are_verified_with_rexs_own_redirect_keys(
    runtime: Runtime, user: User
) -> None:
    settings = runtime.settings.model_copy(
        update={
            "rex_redirect_access_key": REX_KEYS.access_key,
            "rex_redirect_secret_key": SecretStr(REX_KEYS.secret_key),
        }
    )
    with_rex = dataclasses.replace(runtime, settings=settings)
    returned_click, called_click = (
        open_click(runtime, user, "rex"),
        open_click(runtime, user, "rex"),
    )
    path = "/v1/exchanges/rex/return"
    with (
        serving(create_app(with_rex)) as url,
        httpx.Client(timeout=HTTP_TIMEOUT, base_url=url) as http,
    ):
        sandbox_signed = http.get(signed_return(runtime, returned_click.id, (1, 0), path=path))
        rex_signed = http.get(
            signed_return(runtime, returned_click.id, (1, 0), keys=REX_KEYS, path=path)
        )
        body = callback_body(user.respondent_id, called_click.id)
        called = post_callback(
            http, runtime, body, keys=REX_KEYS, path="/v1/exchanges/rex/callback"
        )

    assert sandbox_signed.status_code == 401
    assert rex_signed.status_code == 303
    assert called.status_code == 200
    assert called.json()["data"] == {"recorded": True}
    assert len(ledger(runtime, user)) == 2


def test_a_callback_without_an_authentic_signature_is_refused_with_401(
    http: httpx.Client, runtime: Runtime, user: User
) -> None:
    click = open_click(runtime, user)
    body = callback_body(user.respondent_id, click.id)
    headers = sign_request(sandbox_keys(runtime), body, utc_now() + timedelta(minutes=5))

    forged_key = post_callback(
        http, runtime, body, keys=KeyPair(sandbox_keys(runtime).access_key, "guessed")
    )
    changed_body = http.post(
        CALLBACK_PATH, content=callback_body(user.respondent_id, click.id, (2, 2)), headers=headers
    )
    no_headers = http.post(CALLBACK_PATH, content=body)

    for response in (forged_key, changed_body, no_headers):
        assert response.status_code == 401
        assert_error_envelope(response, "401 Unauthorized")
    assert stored(runtime, click).status is ClickStatus.STARTED
    assert ledger(runtime, user) == []


def test_a_callback_for_another_respondent_is_a_400_and_records_nothing(
    http: httpx.Client, runtime: Runtime, app: App, user: User
) -> None:
    click = open_click(runtime, user)
    someone_else = person(runtime, app, "user-2")

    response = post_callback(http, runtime, callback_body(someone_else.respondent_id, click.id))

    assert response.status_code == 400
    assert_error_envelope(response, "400 Bad Request")
    assert stored(runtime, click).status is ClickStatus.STARTED


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"disposition": 1, "status": 0}',
        b'{"respondent_id": "r"}',
        b'{"respondent_id": "r", "disposition": ' + b"9" * 5000 + b', "status": 0}',
        b'{"respondent_id": "r", "parameters": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
    ],
)
def test_a_callback_we_cannot_read_is_a_400(
    http: httpx.Client, runtime: Runtime, body: bytes
) -> None:
    response = post_callback(http, runtime, body)
    assert response.status_code == 400
    assert_error_envelope(response, "400 Bad Request")


def test_a_callback_without_a_click_id_is_a_400_and_for_an_unknown_click_a_404(
    http: httpx.Client, runtime: Runtime, user: User
) -> None:
    missing = post_callback(http, runtime, callback_body(user.respondent_id, None))
    unknown = post_callback(http, runtime, callback_body(user.respondent_id, "0" * 32))

    assert missing.status_code == 400
    assert_error_envelope(missing, "400 Bad Request")
    assert unknown.status_code == 404
    assert_error_envelope(unknown, "404 Not Found")


def test_an_oversized_callback_is_a_413(http: httpx.Client, runtime: Runtime, user: User) -> None:
    click = open_click(runtime, user)
    document = json.loads(callback_body(user.respondent_id, click.id))
    document["parameters"]["padding"] = "x" * 70_000
    body = json.dumps(document).encode()

    declared = post_callback(http, runtime, body)
    streamed = http.post(
        CALLBACK_PATH,
        content=iter([body[:40_000], body[40_000:]]),
        headers=sign_request(sandbox_keys(runtime), body, utc_now() + timedelta(minutes=5)),
    )

    for response in (declared, streamed):
        assert response.status_code == 413
        assert_error_envelope(response, "413 Request Entity Too Large")
    assert stored(runtime, click).status is ClickStatus.STARTED


def test_the_sandbox_sends_its_callbacks_to_our_callback_route(runtime: Runtime) -> None:
    options = sandbox_options(runtime.settings, port=8123)
    assert options.partner_return_url == "http://127.0.0.1:8123/v1/exchanges/sandbox/return"
    assert options.partner_callback_url == "http://127.0.0.1:8123/v1/exchanges/sandbox/callback"


@pytest.mark.parametrize("click_id", ["\x00", "not a click", "é" * 8, "a" * 65])
def test_a_click_id_that_cannot_be_one_is_a_404_never_a_500(
    http: httpx.Client, runtime: Runtime, user: User, click_id: str
) -> None:
    returned = http.get(signed_return(runtime, click_id, (1, 0)))
    called = post_callback(http, runtime, callback_body(user.respondent_id, click_id))
    page = http.get("/v1/exchanges/result/" + quote(click_id, safe=""))

    for response in (returned, called, page):
        assert response.status_code == 404
        assert_error_envelope(response, "404 Not Found")


def test_a_click_id_utf_8_cannot_carry_is_named_in_a_404_not_a_500(
    http: httpx.Client, runtime: Runtime, user: User
) -> None:
    # JSON may escape a lone surrogate ("\\ud800"); the message quoting it must still be sent.
    called = post_callback(http, runtime, callback_body(user.respondent_id, "\ud800"))
    body = assert_error_envelope(called, "404 Not Found")
    assert "\\ud800" in str(body["error"])
