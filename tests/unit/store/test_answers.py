"""What counts as the user's own answer: the start bonus's progress (client API §3.5)."""

from __future__ import annotations

from datetime import UTC, datetime

from surveyrouter.store.answers import StoredAnswer, own_answer_count

AT = datetime(2026, 12, 7, tzinfo=UTC)


def test_only_answers_the_user_gave_count_not_skips_nor_imported_answers() -> None:
    answers = [
        StoredAnswer("gender", ("1",), skipped=False, answered_at=AT),
        StoredAnswer("pets", (), skipped=True, answered_at=AT),
        StoredAnswer("birth_date", ("1990-05-01",), skipped=False, answered_at=AT, imported=True),
        StoredAnswer("employment_status", ("200101",), skipped=False, answered_at=AT),
    ]
    assert own_answer_count(answers) == 2
    assert own_answer_count([]) == 0
