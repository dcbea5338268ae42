"""What the router knows about one user on one request: answers, visits, targeting profile.

Get Actions, the survey check and opening a survey all read the same thing, built here once
per request from the store and the attribute sources of every network.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.clicks import Click, participation
from surveyrouter.domain.client_context import ClientContext
from surveyrouter.domain.profile import Profile
from surveyrouter.domain.profile_answers import AttributeSource, profile_from_answers
from surveyrouter.domain.questions import Question, QuestionLibrary, QuestionNotFound
from surveyrouter.domain.users import User
from surveyrouter.store.answers import StoredAnswer, own_answer_count, user_answers
from surveyrouter.store.clicks import user_clicks
from surveyrouter.store.networks import Network
from surveyrouter.store.questions import list_network_attributes, list_question_mappings
from surveyrouter.store.v2_clicks import hidden_surveys

log = logging.getLogger(__name__)

# The client API's network id of the question library (client API §2.3: 0 is the standard
# profile, and BitLabs' own questions beyond it).
LIBRARY_NETWORK_ID = 0
# An operator's mapping change (``surveyrouter rex attributes --map``) reaches every API
# process within this long, without a database read per request.
SOURCES_REFRESH = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class UserState:
    """``answers`` holds answers and skips by question key; ``clicks`` every visit, oldest
    first; ``profile`` is what targeting reads, participation history included; ``hidden``
    the (network, opportunity) pairs the user skipped in the v2 listing."""

    user: User
    answers: Mapping[str, StoredAnswer]
    clicks: Sequence[Click]
    profile: Profile
    hidden: frozenset[tuple[str, int]] = frozenset()

    def has_answered(self, question: Question) -> bool:
        """Answered or skipped: either way, never asked again."""
        return question.key in self.answers

    @property
    def answered_count(self) -> int:
        """Questions answered, by the user or the publisher's import (skips do not count)."""
        return sum(1 for answer in self.answers.values() if not answer.skipped)

    @property
    def bonus_progress(self) -> int:
        """Questions the user answered: the start bonus's progress (``own_answer_count``)."""
        return own_answer_count(self.answers.values())


class AttributeSources:
    """Every enabled network's attribute → question mappings, as one list of sources.

    An attribute mapped to a library question is answered by it (client API network 0). An
    attribute no library question maps, but which the network's catalogue describes (see
    ``services.attributes``), is asked as the network's own question, on the network's API id,
    under a key that names the network (``rex_attribute_100262``), its answers the network's.

    The matcher holds all networks' opportunities in one index keyed by attribute id, so
    one profile answers them all. Two networks mapping one attribute id to two different
    questions cannot both be right in that profile: the first network's mapping is used and
    the clash is logged, once per refresh.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        library: QuestionLibrary,
        networks: Sequence[Network],
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._library = library
        self._networks = [network for network in networks if network.enabled]
        self._clock = clock
        self._lock = threading.Lock()
        self._sources: list[AttributeSource] = []
        self._by_attribute: dict[int, AttributeSource] = {}
        self._network_questions: dict[str, tuple[int, Question]] = {}
        self._loaded_at: datetime | None = None

    def current(self) -> list[AttributeSource]:
        self._refresh_if_due()
        return self._sources

    def by_attribute(self) -> Mapping[int, AttributeSource]:
        self._refresh_if_due()
        return self._by_attribute

    def network_of(self, question_key: str) -> int:
        """The client API network a question is answered on: 0 for the library's."""
        self._refresh_if_due()
        asked = self._network_questions.get(question_key)
        return LIBRARY_NETWORK_ID if asked is None else asked[0]

    def question(self, network_id: int, question_key: str) -> Question:
        """The question ``question_key`` of client API network ``network_id`` (0: the
        library); raises ``QuestionNotFound``."""
        if network_id == LIBRARY_NETWORK_ID:
            return self._library.by_key(question_key)
        self._refresh_if_due()
        asked = self._network_questions.get(question_key)
        if asked is None or asked[0] != network_id:
            raise QuestionNotFound(question_key)
        return asked[1]

    def _refresh_if_due(self) -> None:
        now = self._clock()
        with self._lock:
            if self._loaded_at is not None and now - self._loaded_at < SOURCES_REFRESH:
                return
            with self._sessions() as session:
                self._load(session)
            self._loaded_at = now

    def _load(self, session: Session) -> None:
        by_attribute: dict[int, AttributeSource] = {}
        network_questions: dict[str, tuple[int, Question]] = {}
        for network in self._networks:
            mappings = list_question_mappings(session, network.id)
            mapped = {m.attribute_id for m in mappings if m.question_id is not None}
            for mapping in mappings:
                if mapping.question_id is None:
                    continue
                try:
                    question = self._library.get(mapping.question_id)
                except QuestionNotFound:
                    continue
                known = by_attribute.get(mapping.attribute_id)
                if known is not None:
                    if known.question.id != question.id:
                        log.warning(
                            "attribute %d is mapped to question %s by one network and to %s "
                            "by %s; the first is used",
                            mapping.attribute_id,
                            known.question.key,
                            question.key,
                            network.id,
                        )
                    continue
                by_attribute[mapping.attribute_id] = AttributeSource(
                    mapping.attribute_id, question, mapping.answers
                )
            for attribute in list_network_attributes(session, network.id):
                own = attribute.question
                if own is None or attribute.attribute_id in mapped:
                    continue
                if attribute.attribute_id in by_attribute:
                    continue  # another network's library mapping answers it already
                asked = dataclasses.replace(own, key=f"{network.id}_{own.key}")
                network_questions[asked.key] = (network.api_id, asked)
                by_attribute[attribute.attribute_id] = AttributeSource(
                    attribute.attribute_id,
                    asked,
                    {option.id: option.id for option in asked.answers},
                )
        self._by_attribute = by_attribute
        self._network_questions = network_questions
        self._sources = list(by_attribute.values())


def load_user_state(
    session: Session,
    user: User,
    context: ClientContext,
    sources: Sequence[AttributeSource],
    now: datetime,
    kept: UserStates | None = None,
) -> UserState:
    """The user's answers, visits and targeting profile in this request's context; through
    ``kept`` when given (what it holds for the user's state version, else read and kept)."""
    stored = _read(session, user.id) if kept is None else kept.stored(session, user)
    return UserState(
        user=user,
        answers=stored.answers,
        clicks=stored.clicks,
        profile=profile_from_answers(
            {key: answer.values for key, answer in stored.answers.items() if not answer.skipped},
            sources,
            respondent_id=user.respondent_id,
            country=context.country,
            language=context.language,
            device=context.device,
            participation=participation(stored.clicks, now),
        ),
        hidden=stored.hidden,
    )


@dataclass(frozen=True, slots=True)
class StoredState:
    """What the store holds of a user's state as of ``version`` (or later)."""

    version: int
    answers: Mapping[str, StoredAnswer]
    clicks: Sequence[Click]
    hidden: frozenset[tuple[str, int]]


def _read(session: Session, user_id: int, version: int = 0) -> StoredState:
    return StoredState(
        version=version,
        answers=user_answers(session, user_id),
        clicks=tuple(user_clicks(session, user_id)),
        hidden=hidden_surveys(session, user_id),
    )


class UserStates:
    """The stored state of the users this process served lately, by user id, for as long as
    their state version (on the user's row, read by every call anyway) is the one it was
    read at: three reads fewer on a user's every call until they answer, click or hide.

    A state is read after the row that gave its version, so it is never older than that
    version says; a write in between only makes the next call read again. The profile is not
    kept: it depends on the call's context and, through abandoned visits, on the clock.
    The least recently used states go first beyond ``capacity`` users.
    """

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._states: OrderedDict[int, StoredState] = OrderedDict()
        self._lock = threading.Lock()

    def forget(self, user_id: int) -> None:
        """Read the user's state again next time. For a request that changed it and reads it
        again itself: the version its user row gave is the one from before its own write."""
        with self._lock:
            self._states.pop(user_id, None)

    def stored(self, session: Session, user: User) -> StoredState:
        with self._lock:
            kept = self._states.get(user.id)
            if kept is not None and kept.version == user.state_version:
                self._states.move_to_end(user.id)
                return kept
        fresh = _read(session, user.id, user.state_version)
        with self._lock:
            self._states[user.id] = fresh
            self._states.move_to_end(user.id)
            while len(self._states) > self.capacity:
                self._states.popitem(last=False)
        return fresh
