"""Exchange attributes and the questions users are asked for them.

Each network maps its attributes to our canonical questions (``store.questions``). Live
opportunities also target attributes nothing maps: on a real REX network every attribute but
gender, age and postal code at first, because no public list of Dynata's ids exists (REX §7).
``AttributeDiscovery`` finds those, looks each up in the network's catalogue (REX §6.1
get-attribute-info) and keeps it as a network question (its own text and answers) so users can
still be asked it, until an operator maps it to a canonical question with ``map_attribute``
(``surveyrouter rex attributes --map``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.opportunity import Opportunity, OpportunityStatus
from surveyrouter.domain.profile import (
    AGE_ATTRIBUTE_ID,
    GENDER_ATTRIBUTE_ID,
    POSTAL_CODE_ATTRIBUTE_ID,
)
from surveyrouter.domain.questions import (
    FALLBACK_LANGUAGE,
    AnswerOption,
    Question,
    QuestionLibrary,
    QuestionNotFound,
    QuestionType,
)
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.networks.rex.registry import RegistryNotFound
from surveyrouter.store.db import transaction
from surveyrouter.store.opportunities import (
    changes_since,
    latest_change_seq,
    open_opportunity_documents,
)
from surveyrouter.store.questions import (
    NetworkAttribute,
    QuestionMapping,
    get_question_mapping,
    list_network_attributes,
    list_question_mappings,
    network_attribute_ids,
    network_question_key,
    put_network_attribute,
    record_unmapped_attributes,
    set_question_mapping,
)

logger = logging.getLogger(__name__)

# REX §7 notes: answered through the profile's gender, birth_date and postal_code, never as
# attributes; every network question starts from these three.
PROFILE_ATTRIBUTE_IDS = frozenset({GENDER_ATTRIBUTE_ID, AGE_ATTRIBUTE_ID, POSTAL_CODE_ATTRIBUTE_ID})
# REX §4, §7: negated (STATIC_)INVITE_COLLECTIONS cells on 28 are exclusions, not a question.
EXCLUSION_ATTRIBUTE_ID = 28

# REX §6.1: derived from the postal code by the exchange, which ignores any value sent for them.
DERIVED_DISPLAY_MODES = frozenset({"geo", "zip", "none"})
# REX §6.1 display modes (GRL's production list, plus the README's "Single-Punch/Multi-Punch"
# spelling). text_entry answers are integers like every REX answer (put-respondent).
_QUESTION_TYPES = {
    "single_select": QuestionType.SINGLE,
    "single_select_grid": QuestionType.SINGLE,
    "single_select_searchable": QuestionType.SINGLE,
    "single_punch": QuestionType.SINGLE,
    "multi_select": QuestionType.MULTI,
    "multi_select_searchable": QuestionType.MULTI,
    "multi_punch": QuestionType.MULTI,
    "text_entry": QuestionType.NUMBER,
}

Parse = Callable[[Mapping[str, Any], str], Opportunity]
"""Raw exchange JSON and our network id to a domain opportunity."""

DEFAULT_BATCH_SIZE = 1000
# Lookups per ``discover`` call, so one call in the sync loop stays short; the rest wait.
DEFAULT_MAX_LOOKUPS = 100


class AttributeLookup(Protocol):
    """The network's attribute catalogue (``networks.rex.registry.GatewayClient`` is one)."""

    def get_attribute_info(self, attribute_id: int) -> dict[str, Any]: ...


class AttributeDocumentInvalid(ValueError):
    """A get-attribute-info answer that is not about the attribute asked for."""


class MappingInvalid(ValueError):
    """An operator's mapping names a question, answer or attribute that does not exist."""


# --- which attributes live opportunities use ----------------------------------------------------


def attributes_used(opportunity: Opportunity) -> set[int]:
    """The attributes of ``opportunity``'s filter and quota cells that answers can satisfy.

    Left out: exclusions and other invite cells (membership, not answers), and cells the
    exchange evaluates itself (INEFFABLE and unknown kinds, discarded ``-1`` cells, dangling
    tags). The standard profile's attributes are in; discovery leaves them out.
    """
    objects = [o.cell_tags for group in opportunity.filters for o in group]
    objects += [o.cell_tags for group in opportunity.quotas for o in group]
    used: set[int] = set()
    for tags in objects:
        for cell in opportunity.resolve(tags):
            if cell.is_opaque or cell.is_invite or cell.attribute_id < 1:
                continue
            if cell.attribute_id != EXCLUSION_ATTRIBUTE_ID:
                used.add(cell.attribute_id)
    return used


def live_attribute_usage(
    session: Session, network_id: str, parse: Parse = parse_opportunity
) -> Counter[int]:
    """How many of ``network_id``'s live opportunities use each attribute (``attributes_used``)."""
    usage: Counter[int] = Counter()
    for raw in open_opportunity_documents(session, network_id):
        opportunity = _parsed(raw, network_id, parse)
        if opportunity is not None:
            usage.update(attributes_used(opportunity))
    return usage


def _parsed(raw: Mapping[str, Any], network_id: str, parse: Parse) -> Opportunity | None:
    try:
        return parse(raw, network_id)
    except ValueError as error:
        # Stored rows parsed when they were written; one that no longer does is skipped, not fatal.
        logger.warning(
            "attributes %s: skipping opportunity %s: %s", network_id, raw.get("id"), error
        )
        return None


# --- get-attribute-info → network question ------------------------------------------------------


def read_attribute_info(
    document: Mapping[str, Any], network_id: str, attribute_id: int, fetched_at: datetime
) -> NetworkAttribute:
    """What a get-attribute-info document (REX §6.1) says ``attribute_id`` asks, as a network
    question: display mode → question type, ``question``/``answers`` with their translations →
    localized text, answer ids kept as the network's.

    The attribute is stored without a question (``unaskable`` saying why) when it is derived
    (``geo``, ``zip``, ``none``), restricted (no question text), has a display mode we do not
    know, or offers no answers to choose from. Raises ``AttributeDocumentInvalid`` when the
    document is not about ``attribute_id``.
    """
    if not isinstance(document, Mapping):
        raise AttributeDocumentInvalid(f"attribute {attribute_id}: the document is not an object")
    sent_id = document.get("id")
    if sent_id is not None and sent_id != attribute_id:
        raise AttributeDocumentInvalid(
            f"attribute {attribute_id}: asked for it, got a document about {sent_id!r}"
        )
    display_mode = _plain_text(document.get("display_mode"))
    question, unaskable = _network_question(document, attribute_id, display_mode)
    return NetworkAttribute(
        network_id=network_id,
        attribute_id=attribute_id,
        name=_plain_text(document.get("name")),
        display_mode=display_mode,
        question=question,
        unaskable=unaskable,
        raw=dict(document),
        fetched_at=fetched_at,
    )


def _network_question(
    document: Mapping[str, Any], attribute_id: int, display_mode: str | None
) -> tuple[Question | None, str | None]:
    mode = (display_mode or "").lower().replace("-", "_").replace(" ", "_")
    if mode in DERIVED_DISPLAY_MODES:
        return None, f"derived by the exchange (display mode {display_mode!r}); it takes no answers"
    question_type = _QUESTION_TYPES.get(mode)
    if question_type is None:
        return None, f"display mode {display_mode!r} is not one we know how to ask"
    # GRL: some attributes are restricted, and only their id is known.
    text = _localized(document.get("question"))
    if text is None:
        return None, "restricted: the catalogue gives no question text"
    answers = _answer_options(document.get("answers")) if question_type.has_options else ()
    if question_type.has_options and not answers:
        return None, "the catalogue gives no answers to choose from"
    try:
        question = Question(
            id=attribute_id,
            key=network_question_key(attribute_id),
            type=question_type,
            text=text,
            answers=answers,
            countries=_countries(document.get("countries")),
        )
    except ValueError as error:
        return None, f"cannot be asked: {error}"
    return question, None


def _answer_options(entries: Any) -> tuple[AnswerOption, ...]:
    options: list[AnswerOption] = []
    seen: set[str] = set()
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping):
            continue
        answer_id = _answer_id(entry.get("id"))
        text = _localized(entry)
        # An answer without an id cannot be sent back, one without text cannot be shown.
        if answer_id is None or text is None or answer_id in seen:
            continue
        seen.add(answer_id)
        options.append(AnswerOption(id=answer_id, text=text))
    return tuple(options)


def _answer_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return str(int(value))
    return None


def _localized(entry: Any) -> dict[str, str] | None:
    """``{"text", "translations": [{"locale", "text"}]}`` as text by language, or None.

    The main text is taken as English (INFERRED: the catalogue is read for US-style accounts and
    its translations name other locales). A locale is a language code in any case ("BG", "de")
    or a language-region pair ("de-AT", "pt_BR"); its language part keys the text.
    """
    if not isinstance(entry, Mapping):
        return None
    main = _plain_text(entry.get("text"))
    if main is None:
        return None
    texts = {FALLBACK_LANGUAGE: main}
    translations = entry.get("translations")
    for translation in translations if isinstance(translations, list) else []:
        if not isinstance(translation, Mapping):
            continue
        language = _language(translation.get("locale"))
        text = _plain_text(translation.get("text"))
        if language is not None and text is not None:
            texts.setdefault(language, text)
    return texts


def _language(locale: Any) -> str | None:
    if not isinstance(locale, str):
        return None
    language = locale.strip().replace("_", "-").split("-", 1)[0].lower()
    return language if len(language) == 2 and language.isascii() and language.isalpha() else None


def _countries(entries: Any) -> frozenset[str]:
    codes = set()
    for entry in entries if isinstance(entries, list) else []:
        code = entry.get("code") if isinstance(entry, Mapping) else None
        if isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalpha():
            codes.add(code.upper())
    return frozenset(codes)


class _TextOnly(HTMLParser):
    # Line-breaking tags become spaces so "Yes<br>No" does not read "YesNo".
    _BREAKS = frozenset({"br", "p", "div", "li"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BREAKS:
            self.parts.append(" ")


def _plain_text(value: Any) -> str | None:
    """Text as users should read it, or None for no text. GRL: answer text may contain HTML."""
    if not isinstance(value, str):
        return None
    if "<" in value or "&" in value:
        parser = _TextOnly()
        parser.feed(value)
        parser.close()
        value = "".join(parser.parts)
    text = " ".join(value.split())
    return text or None


# --- discovery ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiscoveryResult:
    scanned: int  # live opportunities read for the attributes they use
    looked_up: int  # attributes asked of the catalogue
    questions: int  # of those, kept as network questions
    unaskable: int  # of those, recorded as unmapped without a question
    failed: int  # of those, the lookup failed; asked again on the next call
    waiting: int  # unmapped attributes left for the next call (failed or over the limit)


class AttributeDiscovery:
    """Keeps a network question for every attribute live opportunities use that nothing maps.

    Call ``discover`` periodically (the sync worker's loop). The first call for a network reads
    every live opportunity; later calls read only opportunities written since (the change feed),
    so a call costs what changed. Idempotent: an attribute mapped or already described is never
    looked up again.
    """

    def __init__(
        self,
        attributes: AttributeLookup,
        sessions: sessionmaker[Session],
        *,
        parse: Parse = parse_opportunity,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_lookups: int = DEFAULT_MAX_LOOKUPS,
    ) -> None:
        if batch_size < 1 or max_lookups < 1:
            raise ValueError("batch_size and max_lookups must be at least 1")
        self.attributes = attributes
        self.sessions = sessions
        self.parse = parse
        self.batch_size = batch_size
        self.max_lookups = max_lookups
        # Per network: the last change read, and attributes used but not yet looked up.
        self._cursors: dict[str, int] = {}
        self._waiting: dict[str, set[int]] = {}

    def discover(self, network_id: str, at: datetime) -> DiscoveryResult:
        """Look up the attributes ``network_id``'s live opportunities use that no question maps
        and no network question covers, and store what the catalogue says about each. Gender,
        age and postal code are never looked up: the profile answers them.

        ``at`` is the fetch time recorded. A lookup that fails is logged and tried again on the
        next call; it never stops the others. An attribute the catalogue does not know (404) is
        recorded as unaskable, so it is not asked for on every call.
        """
        scanned, used = self._read_usage(network_id)
        waiting = self._waiting.setdefault(network_id, set())
        waiting |= used - PROFILE_ATTRIBUTE_IDS
        with self.sessions() as session:
            known = network_attribute_ids(session, network_id)
            known |= {
                m.attribute_id
                for m in list_question_mappings(session, network_id)
                if m.question_id is not None
            }
        waiting -= known
        counts: Counter[str] = Counter()
        for attribute_id in sorted(waiting)[: self.max_lookups]:
            outcome = self._look_up(network_id, attribute_id, at)
            counts[outcome] += 1
            if outcome != "failed":
                waiting.discard(attribute_id)
        result = DiscoveryResult(
            scanned=scanned,
            looked_up=sum(counts.values()),
            questions=counts["question"],
            unaskable=counts["unaskable"],
            failed=counts["failed"],
            waiting=len(waiting),
        )
        if result.looked_up:
            logger.info(
                "attributes %s: %d looked up, %d network questions, %d unaskable, %d failed",
                network_id,
                result.looked_up,
                result.questions,
                result.unaskable,
                result.failed,
            )
        return result

    def _read_usage(self, network_id: str) -> tuple[int, set[int]]:
        """(opportunities read, attributes they use) since the last call for ``network_id``."""
        used: set[int] = set()
        scanned = 0
        cursor = self._cursors.get(network_id)
        with self.sessions() as session:
            if cursor is None:
                # Taken before the scan: a row written during it is read again later, not missed.
                start = latest_change_seq(session)
                for raw in open_opportunity_documents(session, network_id, self.batch_size):
                    scanned += 1
                    used |= self._used_by(raw, network_id)
                self._cursors[network_id] = start
                return scanned, used
            while True:
                rows = changes_since(session, cursor, limit=self.batch_size)
                for row in rows:
                    if row.network_id == network_id and row.status is OpportunityStatus.OPEN:
                        scanned += 1
                        used |= self._used_by(row.raw, network_id)
                if rows:
                    cursor = self._cursors[network_id] = rows[-1].change_seq
                if len(rows) < self.batch_size:
                    return scanned, used

    def _used_by(self, raw: Mapping[str, Any], network_id: str) -> set[int]:
        opportunity = _parsed(raw, network_id, self.parse)
        return set() if opportunity is None else attributes_used(opportunity)

    def _look_up(self, network_id: str, attribute_id: int, at: datetime) -> str:
        try:
            document = self.attributes.get_attribute_info(attribute_id)
            attribute = read_attribute_info(document, network_id, attribute_id, at)
        except RegistryNotFound:
            attribute = NetworkAttribute(
                network_id=network_id,
                attribute_id=attribute_id,
                name=None,
                display_mode=None,
                question=None,
                unaskable="not in the network's attribute catalogue",
                raw={},
                fetched_at=at,
            )
        except Exception as error:
            # Whatever the catalogue's adapter raises, the other attributes still get their turn.
            logger.warning(
                "attributes %s: looking up %d failed: %s", network_id, attribute_id, error
            )
            return "failed"
        with transaction(self.sessions) as session:
            put_network_attribute(session, attribute)
            record_unmapped_attributes(session, network_id, [attribute_id])
        return "question" if attribute.question is not None else "unaskable"


# --- what an operator sees and sets -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttributeStatus:
    """One attribute of a network as the operator sees it.

    ``question`` is the library question it is mapped to (None when unmapped, or mapped to a
    question the library no longer has); ``described`` is what the network's catalogue said
    about it, if it has been looked up.
    """

    attribute_id: int
    mapping: QuestionMapping | None
    question: Question | None
    described: NetworkAttribute | None
    live_opportunities: int

    @property
    def mapped(self) -> bool:
        return self.mapping is not None and self.mapping.question_id is not None


def attribute_statuses(
    session: Session, network_id: str, library: QuestionLibrary, parse: Parse = parse_opportunity
) -> list[AttributeStatus]:
    """Every attribute of ``network_id`` that is mapped, described, or used by a live opportunity:
    the unmapped first (what an operator has to look at), each part most used first, then by id."""
    mappings = {m.attribute_id: m for m in list_question_mappings(session, network_id)}
    described = {a.attribute_id: a for a in list_network_attributes(session, network_id)}
    usage = live_attribute_usage(session, network_id, parse)
    statuses = []
    for attribute_id in set(mappings) | set(described) | set(usage):
        mapping = mappings.get(attribute_id)
        question = None
        if mapping is not None and mapping.question_id is not None:
            question = library.get(mapping.question_id) if mapping.question_id in library else None
        statuses.append(
            AttributeStatus(
                attribute_id=attribute_id,
                mapping=mapping,
                question=question,
                described=described.get(attribute_id),
                live_opportunities=usage[attribute_id],
            )
        )
    statuses.sort(key=lambda s: (s.mapped, -s.live_opportunities, s.attribute_id))
    return statuses


def map_attribute(
    session: Session,
    network_id: str,
    attribute_id: int,
    question_key: str,
    answers: Sequence[tuple[str, str]],
    library: QuestionLibrary,
) -> QuestionMapping:
    """Map ``attribute_id`` to the library question ``question_key``, as an operator.

    ``answers`` are (their answer id, our answer id) pairs. Raises ``MappingInvalid`` when the
    question, one of our answer ids, or (for an attribute the catalogue described) one of
    theirs does not exist; nothing is written then. The mapping survives restarts.
    """
    _check_attribute(attribute_id)
    try:
        question = library.by_key(question_key)
    except QuestionNotFound:
        raise MappingInvalid(f"no question {question_key!r} in the question library") from None
    if answers and not question.type.has_options:
        raise MappingInvalid(
            f"question {question.key!r} is a {question.type.value} question; it has no answer "
            "ids to map"
        )
    described = {a.attribute_id: a for a in list_network_attributes(session, network_id)}
    theirs_known = _answer_ids(described.get(attribute_id))
    ours_to_theirs: dict[str, str] = {}
    for theirs, ours in answers:
        if question.option(ours) is None:
            known = ", ".join(o.id for o in question.answers)
            raise MappingInvalid(
                f"question {question.key!r} has no answer {ours!r} (its answers: {known})"
            )
        if _answer_id(theirs) != theirs:
            raise MappingInvalid(f"their answer id {theirs!r} is not a positive integer")
        if theirs_known is not None and theirs not in theirs_known:
            raise MappingInvalid(f"attribute {attribute_id} has no answer {theirs!r}")
        if ours in ours_to_theirs and ours_to_theirs[ours] != theirs:
            raise MappingInvalid(
                f"our answer {ours!r} is mapped twice ({ours_to_theirs[ours]} and {theirs})"
            )
        ours_to_theirs[ours] = theirs
    return set_question_mapping(session, network_id, attribute_id, question.id, ours_to_theirs)


def unmap_attribute(session: Session, network_id: str, attribute_id: int) -> bool:
    """Unmap ``attribute_id``, as an operator (its network question, if any, is asked again).

    Returns False when it was not mapped; nothing is written then. Seeding does not map it
    again on the next start.
    """
    _check_attribute(attribute_id)
    mapping = get_question_mapping(session, network_id, attribute_id)
    if mapping is None or mapping.question_id is None:
        return False
    set_question_mapping(session, network_id, attribute_id, None, {})
    return True


def _check_attribute(attribute_id: int) -> None:
    if attribute_id < 1:
        raise MappingInvalid(f"attribute id {attribute_id} is not a positive integer")
    if attribute_id == EXCLUSION_ATTRIBUTE_ID:
        raise MappingInvalid(f"attribute {attribute_id} holds exclusions, not answers (REX §7)")


def _answer_ids(described: NetworkAttribute | None) -> frozenset[str] | None:
    if described is None or described.question is None:
        return None
    return frozenset(option.id for option in described.question.answers)
