"""The interactive gateway's pages: plain server-rendered HTML, one small form each, no script.

Every text that came from outside (question texts, answers, parameters) is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape

from surveyrouter.networks.rex.gateway import Disposition
from surveyrouter.sandbox.gateway import SURVEY_OUTCOMES, Session
from surveyrouter.sandbox.prescreen import Question

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}"
    "fieldset{margin:0 0 1rem;border:1px solid #ccc}label{display:block;margin:.2rem 0}"
    "button{margin:.3rem .3rem 0 0;padding:.4rem .8rem}.error{color:#a00}"
    "dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}"
)

_OUTCOME_LABELS = {
    (1, 0): "Complete the survey",
    (2, 2): "Get disqualified by the client",
    (3, 2): "Hit a full quota (client over-quota)",
    (5, 1): "Fail a quality check",
}


def prescreen_page(session: Session, action: str, error: str | None = None) -> str:
    fields = "".join(_question(question) for question in session.questions)
    problem = f'<p class="error">{escape(error)}</p>' if error else ""
    return _page(
        "A few questions first",
        f"{_about(session)}{problem}"
        f'<form method="post" action="{escape(action)}">{fields}'
        '<button type="submit">Continue</button></form>',
    )


def survey_page(session: Session, action: str) -> str:
    buttons = "".join(
        f'<button type="submit" name="outcome" value="{ending.disposition}.{ending.status}">'
        f"{escape(_OUTCOME_LABELS.get((ending.disposition, ending.status), ending.name))}"
        f" ({ending.disposition}.{ending.status})</button>"
        for ending in SURVEY_OUTCOMES
    )
    return _page(
        "The client survey",
        f"{_about(session)}<p>You are in the client's survey. How should it end?</p>"
        f'<form method="post" action="{escape(action)}">{buttons}</form>',
    )


def end_page(disposition: Disposition, parameters: Mapping[str, str]) -> str:
    rows = "".join(
        f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>"
        for name, value in sorted(parameters.items())
    )
    listed = f"<p>Parameters passed back:</p><dl>{rows}</dl>" if rows else ""
    return _page(
        "The survey has ended",
        f"<p>Disposition {disposition.disposition}.{disposition.status}: "
        f"<strong>{escape(disposition.name)}</strong> ({escape(disposition.outcome.value)}).</p>"
        f"{listed}",
    )


def dropout_page(opportunity_id: int) -> str:
    """Where a simulated respondent who left the client survey unfinished ends up."""
    return _page(
        "Survey left unfinished",
        f"<p>The respondent left survey {opportunity_id} without finishing it (a simulated "
        "drop-off). As at REX, nothing goes back to the partner: no return, no callback.</p>",
    )


def index_page(facts: Iterable[tuple[str, str]], counts: Mapping[str, int]) -> str:
    """The sandbox's root: what it is, where its paths are, and what its market holds."""
    rows = "".join(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>" for name, value in facts)
    market = ", ".join(f"{count} {escape(status.lower())}" for status, count in counts.items())
    return _page(
        "surveyrouter sandbox exchange",
        "<p>A REX-compatible Opportunity Registry and Respondent Gateway (signed JSON POSTs "
        "at this base URL, as Dynata's). Point a REX client here with the access key below.</p>"
        f"<dl>{rows}</dl><p>Market: {market or 'empty'}.</p>",
    )


def _about(session: Session) -> str:
    opportunity = session.admission.opportunity
    return (
        f"<p>Opportunity {opportunity.id}, about {opportunity.loi_minutes} minutes; "
        f"respondent {escape(session.admission.respondent_id)}.</p>"
    )


def _question(question: Question) -> str:
    name = escape(question.name)
    legend = f"<legend>{escape(question.text)}</legend>"
    if question.kind in ("single", "multi"):
        kind = "radio" if question.kind == "single" else "checkbox"
        choices = _choices(kind, name, question.options)
        return f"<fieldset>{legend}{choices}</fieldset>"
    kind = {"date": "date", "number": "number", "text": "text"}[question.kind]
    extra = ' min="0" step="1"' if kind == "number" else ""
    return f'<fieldset>{legend}<input type="{kind}" name="{name}"{extra}></fieldset>'


def _choices(kind: str, name: str, options: Iterable[tuple[str, str]]) -> str:
    return "".join(
        f'<label><input type="{kind}" name="{name}" value="{escape(value)}"> '
        f"{escape(label)}</label>"
        for value, label in options
    )


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · REX sandbox</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
