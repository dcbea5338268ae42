"""The hosted offerwall (``/offerwall?token=&uid=``): the page a publisher opens in a WebView
or an iframe. The server only checks the link and hands the page its settings; everything
the user does goes through the public client API from ``static/offerwall.js``."""

from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.responses import HTMLResponse

from surveyrouter.api.dependencies import RuntimeDep
from surveyrouter.domain.apps import App
from surveyrouter.domain.tags import TagsInvalid, parse_tags
from surveyrouter.domain.users import UserIdInvalid, check_uid
from surveyrouter.store.category_library import load_category_catalog
from surveyrouter.web.category_icons import category_icon_svg
from surveyrouter.web.messages import messages, page_language
from surveyrouter.web.pages import ICONS_PATH, error_page, page

router = APIRouter(include_in_schema=False)

# Parameters of the offerwall URL itself (client API §2.9); any other pair is a custom tag,
# passed back in the user's callbacks.
WALL_PARAMETERS = frozenset({"token", "uid", "sdk", "os", "platform", "lang", "maid"})
# Passed on to every client API call the page makes.
API_PARAMETERS = ("sdk", "os", "platform", "lang", "username")
# The page is its own code only; it may be framed by any publisher's site or app.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' https: data:; connect-src 'self'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'"
)
# Not tags either: BitLabs' wall takes them (``display_mode=surveys``: we only show surveys).
_NOT_TAGS = WALL_PARAMETERS | {"display_mode", "username"}


@router.get("/offerwall", response_class=HTMLResponse)
def offerwall(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """The wall for one user of one app; 400 or 401 with a readable page for a broken link."""
    query = request.query_params
    language = page_language(query.get("lang"), request.headers.get("accept-language"))
    token, uid = query.get("token"), query.get("uid")
    if not token:
        return _refused(400, language, "the link has no token parameter (the app's API token)")
    if uid is None:
        return _refused(400, language, "the link has no uid parameter (the user's id)")
    try:
        check_uid(uid)
    except UserIdInvalid as error:
        return _refused(400, language, f"uid: {error}")
    with runtime.sessions() as session:
        kept = request.app.state.apps_by_token.find(session, token)
    app = None if kept is None else kept.app
    if app is None:
        return _refused(401, language, "unknown api token")
    tags = urlencode([(k, v) for k, v in query.multi_items() if k not in _NOT_TAGS])
    try:
        parse_tags(tags)
    except TagsInvalid as error:
        return _refused(400, language, f"tags: {error}")
    settings = {
        "token": token,
        "uid": uid,
        "language": language,
        "query": {name: query[name] for name in API_PARAMETERS if query.get(name)},
        "tags": tags,
        "app": _app_settings(app),
        "iconBase": f"{ICONS_PATH}/",
        "messages": dict(messages(language)),
    }
    words = messages(language)
    close = escape(words["close"])
    body = (
        f'<header class="bar"><h1 class="bar-title">{escape(app.name)}</h1>'
        f'<button type="button" class="close" id="close" hidden aria-label="{close}">'
        "×</button></header>"
        f'<main class="page" id="view" tabindex="-1" aria-live="polite">'
        f'<p class="muted">{escape(words["loading"])}</p></main>'
        f'<noscript><p class="page">{escape(words["page_error_detail"])}</p></noscript>'
    )
    html = page(
        title=app.name,
        language=language,
        colors=app.colors,
        body=body,
        scripts=("wall-common.js", "offerwall.js"),
        settings=settings,
    )
    return HTMLResponse(html, headers=_page_headers())


@router.get(ICONS_PATH + "/{icon:path}", name="category_icon")
def category_icon(icon: Annotated[str, Path(max_length=200)]) -> Response:
    """The badge of the category whose ``icon_url`` is ``icon`` (e.g. categories/finance.svg)."""
    catalog = load_category_catalog()
    for category in (*catalog.categories, catalog.fallback):
        if category.icon == icon:
            return Response(
                category_icon_svg(category),
                media_type="image/svg+xml",
                headers={"Cache-Control": "public, max-age=86400"},
            )
    raise HTTPException(404, f"no category has the icon {icon!r}")


def _app_settings(app: App) -> dict[str, object]:
    currency = app.currency
    return {
        "name": app.name,
        "currency": {"symbol": currency.symbol, "isImage": currency.symbol_is_image},
        "leaderboard": app.leaderboard_enabled,
    }


def _page_headers() -> dict[str, str]:
    # The page names its user: never kept by a shared cache.
    return {"Cache-Control": "no-store", "Content-Security-Policy": CONTENT_SECURITY_POLICY}


def _refused(status: int, language: str, detail: str) -> HTMLResponse:
    return HTMLResponse(error_page(language, detail), status_code=status, headers=_page_headers())
