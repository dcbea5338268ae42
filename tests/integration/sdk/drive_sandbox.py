"""Drive a running ``surveyrouter sandbox`` with Dynata's archived Python SDK (dynata-rex 1.3.1).

Run by ``test_dynata_sdk.py`` with the SDK virtualenv's interpreter (``.venv/rex-sdk``), never
with the project's: it imports nothing from surveyrouter and uses only the SDK's public API
(``OpportunityRegistry``, ``RespondentGateway``, ``dynata_rex.models``), plus ``requests`` to
follow ``/start`` as a respondent's browser would. It prints one JSON object: one entry per step,
each holding what was observed or an ``"error"``, so the test can say exactly what broke.

    python drive_sandbox.py --base-url http://127.0.0.1:PORT --access-key K --secret-key S \
        --redirect-access-key K2 --redirect-secret-key S2

The SDK quirks this leans on are those of REX spec §8: ``receive_notifications`` logs, acks and
drops an opportunity its models cannot parse (the log is the only trace, so it is captured);
``download_collection`` splits the body on newlines; ``verify_url`` swallows a bad signature as
``False`` and checks the URL against the verifier's own access key.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.metadata import version
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pydantic
import requests
from dynata_rex import OpportunityRegistry, RespondentGateway, RexServiceException
from dynata_rex.models import (
    Attribute,
    DevicesEnum,
    ListCell,
    Opportunity,
    PutRespondentRequest,
    RangeCell,
    StatusEnum,
    ValueCell,
)

# Not re-exported by dynata_rex.models, unlike the three other cell classes.
from dynata_rex.models.opportunity_registry import CollectionCell

# REX §7: the standard profile's attributes, set through gender, birth_date and postal_code.
GENDER, POSTAL_CODE, AGE = 1, 8, 80
GENDERS = {"1": "male", "2": "female"}
# The only cell kinds the SDK's model knows (its union of four cell classes).
SDK_CELL_KINDS = frozenset({"VALUE", "LIST", "RANGE", "COLLECTION"})
# A pass-through parameter that must come back on the return; a space and a slash test both
# encodings (the SDK emits them unquoted; requests sends the space as %20).
PASSTHROUGH = {"sub_id": "sdk run/1"}
# §1.2: the SDK logs this, then acks the notification, for an opportunity it cannot parse.
DROPPED = re.compile(r"Unable to parse (\d+), excluding")
NOTIFICATION_BATCH = 25
MAX_BATCHES = 40


def main() -> None:
    arguments = _arguments()
    results: dict[str, Any] = {
        "sdk": {name: version(name) for name in ("dynata-rex", "pydantic", "requests")}
    }
    driver = Driver(arguments)
    for step in (
        driver.notifications,
        driver.get_opportunity,
        driver.project,
        driver.collection,
        driver.entry,
        driver.forged_entry,
        driver.second_entry,
        driver.invites,
    ):
        name = step.__name__
        try:
            results[name] = step()
        except Exception as error:  # every failure is a result the test reports
            # The last frames say where; the whole chain of a connection error is pages long.
            trace = traceback.format_exc().splitlines()[-12:]
            results[name] = {"error": f"{type(error).__name__}: {error}", "traceback": trace}
    print(json.dumps(results, indent=2, sort_keys=True))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in (
        "base-url",
        "access-key",
        "secret-key",
        "redirect-access-key",
        "redirect-secret-key",
    ):
        parser.add_argument(f"--{name}", required=True)
    return parser.parse_args()


@dataclass
class Target:
    """The opportunity the respondent enters, and a profile its targeting fully accepts."""

    opportunity: Opportunity
    gender: str
    birth_date: str
    postal_code: str
    attributes: dict[int, int]


class Driver:
    def __init__(self, arguments: argparse.Namespace) -> None:
        self.base_url = arguments.base_url
        self.registry = OpportunityRegistry(
            arguments.access_key, arguments.secret_key, base_url=self.base_url
        )
        self.gateway = RespondentGateway(
            arguments.access_key, arguments.secret_key, base_url=self.base_url
        )
        # The partner's side of the return (§1.5): verified with the redirect key pair.
        self.returns = RespondentGateway(
            arguments.redirect_access_key, arguments.redirect_secret_key, base_url=self.base_url
        )
        self.received: list[Opportunity] = []
        self.dropped: list[int] = []
        self.collections: dict[str, list[str]] = {}
        self.target: Target | None = None

    # --- registry ------------------------------------------------------------------------------

    def notifications(self) -> dict[str, Any]:
        """Receive until the queue is empty, acking each batch with ``ack_notifications``."""
        batches = []
        with captured_drops() as dropped:
            for _ in range(MAX_BATCHES):
                before = len(dropped)
                batch = self.registry.receive_notifications(limit=NOTIFICATION_BATCH)
                batches.append({"parsed": len(batch), "dropped": len(dropped) - before})
                if not batch and len(dropped) == before:
                    break
                if batch:
                    acked = self.registry.ack_notifications([o.id for o in batch])
                    batches[-1]["ack_answer"] = acked
                self.received.extend(batch)
        self.dropped = list(dropped)
        reasons = {str(i): self._why_unparseable(i) for i in self.dropped}
        return {
            "batches": batches,
            "received_ids": [o.id for o in self.received],
            "dropped_ids": self.dropped,
            # Why each dropped opportunity does not fit the SDK's models.
            "dropped_reasons": reasons,
            "live_links": sorted({str(o.links.live).split("?")[0] for o in self.received}),
        }

    def _why_unparseable(self, opportunity_id: int) -> dict[str, Any]:
        try:
            self.registry.get_opportunity(opportunity_id)
        except pydantic.ValidationError as error:
            return unparseable(error)
        return {"parses_in_get_opportunity": True}

    def get_opportunity(self) -> dict[str, Any]:
        self.target = self._choose_target()
        chosen = self.target.opportunity
        fetched = self.registry.get_opportunity(chosen.id)
        missing_id = max([*self.dropped, *(o.id for o in self.received)]) + 1_000_000
        try:
            self.registry.get_opportunity(missing_id)
            missing: dict[str, Any] = {"raised": None}
        except RexServiceException as error:
            missing = {"raised": type(error).__name__, "body": _json_or_text(str(error))}
        return {
            "id": fetched.id,
            "equals_notification": fetched == chosen,
            "status": fetched.status.value,
            "project_id": fetched.project_id,
            "missing_id": missing_id,
            "missing": missing,
        }

    def project(self) -> dict[str, Any]:
        opportunity = self._target().opportunity
        ids = self.registry.list_project_opportunities(opportunity.project_id)
        return {"project_id": opportunity.project_id, "opportunity_id": opportunity.id, "ids": ids}

    def collection(self) -> dict[str, Any]:
        """Download a collection a received opportunity's COLLECTION cell references."""
        for opportunity in self.received:
            for cell in opportunity.cells:
                if isinstance(cell, CollectionCell):
                    values = self._download(cell.collection_)
                    return {
                        "opportunity_id": opportunity.id,
                        "attribute_id": cell.attribute_id,
                        "collection_id": cell.collection_,
                        "values": values,
                    }
        return {"error": "no received opportunity has a COLLECTION cell the SDK parsed"}

    def _download(self, collection_id: str) -> list[str]:
        if collection_id not in self.collections:
            self.collections[collection_id] = self.registry.download_collection(collection_id)
        return self.collections[collection_id]

    # --- gateway -------------------------------------------------------------------------------

    def entry(self) -> dict[str, Any]:
        """Put the respondent, enter on an SDK-signed link, verify the return with the SDK."""
        target = self._target()
        opportunity = target.opportunity
        respondent_id = f"sdk-{opportunity.id}"
        self.gateway.put_respondent(
            PutRespondentRequest(
                respondent_id=respondent_id,
                language=opportunity.locale.language,
                country=opportunity.locale.country,
                gender=target.gender,
                birth_date=target.birth_date,
                postal_code=target.postal_code,
                attributes=[Attribute(a, [v]) for a, v in sorted(target.attributes.items())],
            )
        )
        entry_url = self._entry_url(respondent_id)
        return {
            "opportunity_id": opportunity.id,
            "respondent_id": respondent_id,
            "profile": {
                "gender": target.gender,
                "birth_date": target.birth_date,
                "postal_code": target.postal_code,
                "attributes": {str(a): v for a, v in target.attributes.items()},
            },
            "entry_url": entry_url,
            # The SDK's own verifier accepts the link it signed (API key pair).
            "entry_self_verifies": self.gateway.verify_url(entry_url),
            **self._follow(entry_url),
        }

    def forged_entry(self) -> dict[str, Any]:
        """An SDK-signed link with one signature digit changed: /start must refuse it."""
        url = self._entry_url(f"sdk-forged-{self._target().opportunity.id}")
        signature = dict(parse_qsl(urlsplit(url).query))["signature"]
        forged = _with_parameter(url, "signature", _flip(signature))
        response = requests.get(forged, allow_redirects=False, timeout=30)
        return {
            "status_code": response.status_code,
            "location": response.headers.get("Location"),
            "body": _json_or_text(response.text),
        }

    def second_entry(self) -> dict[str, Any]:
        """The respondent enters the same opportunity again, on a freshly signed link."""
        respondent_id = f"sdk-{self._target().opportunity.id}"
        return self._follow(self._entry_url(respondent_id))

    def invites(self) -> dict[str, Any]:
        """``receive_invites``: the SDK posts to its own spelling, ``/receive_invites``, and
        reads a flat invite where the docs send ``{invite: {…}, created}`` (REX §2.6, §8)."""
        try:
            invites = self.registry.receive_invites()
        except RexServiceException as error:
            return {"refused": _json_or_text(str(error))}
        except Exception as error:
            return {"sdk_error": f"{type(error).__name__}: {error}"}
        return {"parsed": [invite.dict() for invite in invites]}

    def _entry_url(self, respondent_id: str) -> str:
        target = self._target()
        return self.gateway.create_respondent_url(
            str(target.opportunity.links.live),
            birth_date=target.birth_date,
            gender=target.gender,
            postal_code=target.postal_code,
            respondent_id=respondent_id,
            additional_params=dict(PASSTHROUGH),
        )

    def _follow(self, url: str) -> dict[str, Any]:
        response = requests.get(url, allow_redirects=False, timeout=30)
        location = response.headers.get("Location")
        result: dict[str, Any] = {"status_code": response.status_code, "location": location}
        if location is None:
            result["body"] = _json_or_text(response.text)
            return result
        parameters = dict(parse_qsl(urlsplit(location).query))
        other_disposition = "2" if parameters.get("disposition") == "1" else "1"
        tampered = {
            "disposition": _with_parameter(location, "disposition", other_disposition),
            "sub_id": _with_parameter(location, "sub_id", "someone else"),
        }
        result.update(
            parameters=parameters,
            verified_with_redirect_keys=self.returns.verify_url(location),
            verified_with_api_keys=self.gateway.verify_url(location),
            tampered_verified={name: self.returns.verify_url(u) for name, u in tampered.items()},
            disposition=_named(lambda: self.returns.get_respondent_disposition(location)),
            status=_named(lambda: self.returns.get_respondent_status(location)),
        )
        return result

    # --- choosing whom to send where -----------------------------------------------------------

    def _target(self) -> Target:
        if self.target is None:
            raise RuntimeError("no target opportunity (see get_opportunity)")
        return self.target

    def _choose_target(self) -> Target:
        """The first received opportunity, by id, that is OPEN, takes desktops (requests says
        nothing of a phone) and whose filters and quotas a profile can satisfy outright, so
        the sandbox decides nothing by chance and the forced ending is what comes back."""
        for opportunity in sorted(self.received, key=lambda o: o.id):
            if opportunity.status is not StatusEnum.OPEN:
                continue
            if DevicesEnum.DESKTOP not in opportunity.devices:
                continue
            target = qualifying_profile(opportunity, self._download)
            if target is not None:
                return target
        raise RuntimeError(
            f"none of the {len(self.received)} received opportunities is OPEN, on desktop and "
            "satisfiable by one profile; pick another --seed"
        )


# --- why the SDK drops an opportunity ----------------------------------------------------------


class _Drops(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.ids: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = DROPPED.match(record.getMessage())
        if match:
            self.ids.append(int(match.group(1)))


@contextmanager
def captured_drops() -> Iterator[list[int]]:
    """The ids ``receive_notifications`` dropped: its warning log is their only trace."""
    logger = logging.getLogger("dynata_rex.logs")
    handler = _Drops()
    # The SDK takes its level from $LOG_LEVEL; the drops must be seen whatever it says.
    level = logger.level
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield handler.ids
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def unparseable(error: pydantic.ValidationError) -> dict[str, Any]:
    """The cell kinds the SDK's model does not know, and every other error in full."""
    kinds: dict[int, str] = {}
    for item in error.errors():
        location = item["loc"]
        if location[0] == "cells" and location[-1] == "kind" and "given" in item.get("ctx", {}):
            kinds[int(location[1])] = str(item["ctx"]["given"])
    unknown = {i for i, kind in kinds.items() if kind not in SDK_CELL_KINDS}
    other = [
        f"{' -> '.join(map(str, item['loc']))}: {item['msg']}"
        for item in error.errors()
        if not (item["loc"][0] == "cells" and int(item["loc"][1]) in unknown)
    ]
    return {"unknown_cell_kinds": sorted({kinds[i] for i in unknown}), "other_errors": other}


# --- a profile that satisfies an opportunity's targeting ---------------------------------------

Need = tuple[frozenset[str] | None, int | None, int | None]  # allowed answers, low, high


def qualifying_profile(
    opportunity: Opportunity, download: Callable[[str], list[str]]
) -> Target | None:
    """One profile passing every filter group and quota group (REX §5.2: all groups, at least
    one object per group, all cells of the object), or None. Negated cells are avoided rather
    than answered, since their answer space is unknown."""
    cells = {cell.tag: cell for cell in opportunity.cells}
    groups = [[f.cells for f in group] for group in opportunity.filters]
    groups += [
        [q.cells for q in group if q.status is StatusEnum.OPEN and q.count > 0]
        for group in opportunity.quotas
    ]
    budget = 10_000  # object choices tried, at most

    def search(index: int, needs: dict[int, Need]) -> dict[int, Need] | None:
        nonlocal budget
        if index == len(groups):
            return needs
        for tags in groups[index]:
            budget -= 1
            if budget < 0:
                return None
            narrowed: dict[int, Need] | None = needs
            for tag in tags:
                if narrowed is None:
                    break
                narrowed = _narrow(narrowed, cells.get(tag), download)
            if narrowed is not None and (found := search(index + 1, narrowed)) is not None:
                return found
        return None

    needs = search(0, {})
    return None if needs is None else _profile(opportunity, needs)


def _narrow(
    needs: dict[int, Need], cell: Any, download: Callable[[str], list[str]]
) -> dict[int, Need] | None:
    if cell is None or cell.negate:
        return None
    allowed, low, high = needs.get(cell.attribute_id, (None, None, None))
    if isinstance(cell, RangeCell):
        if cell.range_.from_ is not None:
            low = cell.range_.from_ if low is None else max(low, cell.range_.from_)
        if cell.range_.to is not None:
            high = cell.range_.to if high is None else min(high, cell.range_.to)
        values = None
    elif isinstance(cell, ValueCell):
        values = frozenset({cell.value})
    elif isinstance(cell, ListCell):
        values = frozenset(cell.list_)
    elif isinstance(cell, CollectionCell):
        values = frozenset(v.strip() for v in download(cell.collection_) if v.strip())
    else:
        return None
    if values is not None:
        allowed = values if allowed is None else allowed & values
    if allowed is not None and (low is not None or high is not None):
        allowed = frozenset(v for v in allowed if _within(v, low, high))
    if (allowed is not None and not allowed) or (
        low is not None and high is not None and low > high
    ):
        return None
    return {**needs, cell.attribute_id: (allowed, low, high)}


def _within(value: str, low: int | None, high: int | None) -> bool:
    try:
        number = int(value)
    except ValueError:
        return False
    return (low is None or number >= low) and (high is None or number <= high)


def _pick(need: Need) -> str:
    allowed, low, high = need
    if allowed is not None:
        return min(allowed, key=lambda v: (len(v), v))
    return str(low if low is not None else high if high is not None else 1)


def _profile(opportunity: Opportunity, needs: Mapping[int, Need]) -> Target | None:
    age_need = needs.get(AGE, (None, None, None))
    allowed, low, high = age_need
    try:
        age = int(_pick(age_need)) if allowed is not None else max(low or 18, 18)
    except ValueError:
        return None
    if age < 18 or (high is not None and age > high):
        return None  # REX 0.4: underage
    gender = GENDERS.get(_pick(needs[GENDER])) if GENDER in needs else "male"
    postal = _pick(needs[POSTAL_CODE]) if POSTAL_CODE in needs else "10110"
    if gender is None or (POSTAL_CODE in needs and needs[POSTAL_CODE][0] is None):
        return None
    attributes = {}
    for attribute_id, need in needs.items():
        if attribute_id in (GENDER, AGE, POSTAL_CODE):
            continue
        try:
            attributes[attribute_id] = int(_pick(need))
        except ValueError:
            return None  # put-respondent answers are integers
    # Born on 1 January: the age in whole years is the same all year long.
    today = datetime.now(UTC).date()
    birth_date = date(today.year - age, 1, 1).isoformat()
    return Target(opportunity, gender, birth_date, postal, attributes)


# --- small things ------------------------------------------------------------------------------


def _named(call: Callable[[], Any]) -> dict[str, Any]:
    """An SDK enum lookup: its name, or the error its strict enums raise (REX §8)."""
    try:
        value = call()
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}
    return {"name": None if value is None else value.name}


def _with_parameter(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    parameters = dict(parse_qsl(parts.query))
    parameters[name] = value
    return urlunsplit(parts._replace(query=urlencode(parameters)))


def _flip(signature: str) -> str:
    return signature[:-1] + ("0" if signature[-1] != "0" else "1")


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


if __name__ == "__main__":
    main()
