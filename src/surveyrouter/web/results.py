"""The page a user lands on back from a survey when the app has no redirect URL of its own:
how it went and what it paid, in the offerwall's look, with the offerwall hook
(``survey.complete`` / ``survey.screenout``) and a way back to the wall."""

from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import HTMLResponse

from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.domain.clicks import ClickStatus
from surveyrouter.services.outcomes import ClickNotFound, ClickOutcome, click_outcome
from surveyrouter.web.currency_display import amount_html
from surveyrouter.web.messages import messages, page_language, render
from surveyrouter.web.pages import page

router = APIRouter(include_in_schema=False)

COMPLETE_HOOK = "offerwall-surveys:survey.complete"
SCREENOUT_HOOK = "offerwall-surveys:survey.screenout"

ClickId = Annotated[str, Path(description="The click id.")]


@router.get("/v1/exchanges/result/{click_id}", response_class=HTMLResponse, name="exchange_result")
def result(request: Request, runtime: RuntimeDep, click_id: ClickId) -> HTMLResponse:
    """The user's result page, in the app's currency, colours and the user's language."""
    try:
        outcome = click_outcome(runtime.sessions, click_id)
    except ClickNotFound as error:
        raise HTTPException(404, f"click not found: {click_id}") from error
    language = page_language(outcome.user.language, request.headers.get("accept-language"))
    return HTMLResponse(result_page(outcome, language), headers={"Cache-Control": "no-store"})


def result_page(outcome: ClickOutcome, language: str) -> str:
    """How the click ended and what it paid, with the hook the offerwall's SDKs listen for."""
    words = messages(language)
    app, click, reward = outcome.app, outcome.click, outcome.reward
    status = click.status
    hook: dict[str, object] | None = None
    paid = {"reward": 0.0 if reward is None else float(reward.value)}
    if status is ClickStatus.COMPLETE:
        tone, headline, detail, earned = "good", "result_complete", None, "result_complete_reward"
        hook = {"name": COMPLETE_HOOK, "args": [paid]}
    elif status.is_open:
        tone, headline, detail, earned = "wait", "result_pending", "result_pending_detail", None
    else:
        tone, headline, detail = "sorry", "result_screenout", "result_screenout_detail"
        earned = "result_screenout_reward"
        hook = {"name": SCREENOUT_HOOK, "args": [paid]}
    earned_line = ""
    if earned is not None and reward is not None:
        amount = amount_html(reward.value, app.currency)
        earned_line = f'<p class="reward">{render(escape(words[earned]), reward=amount)}</p>'
    wall = "/offerwall?" + urlencode({"token": app.api_token, "uid": outcome.user.uid})
    body = (
        f'<header class="bar"><p class="bar-title">{escape(app.name)}</p></header>'
        f'<main class="page"><section class="panel result result-{tone}" id="result" '
        f'data-status="{escape(status.value)}">'
        f"<h1>{escape(words[headline])}</h1>{earned_line}"
        + ("" if detail is None else f"<p>{escape(words[detail])}</p>")
        + f'<p><a class="button" id="back" href="{escape(wall)}">{escape(words["back"])}</a></p>'
        "</section></main>"
    )
    return page(
        title=words[headline],
        language=language,
        colors=app.colors,
        body=body,
        scripts=("wall-common.js", "result.js"),
        settings={"clickId": click.id, "hook": hook},
    )
