"""Dependencies routes declare through ``Annotated`` aliases, defined once here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.questions import QuestionLibrary
from surveyrouter.store.question_library import load_question_library


# Dependencies that only read the app's state are ``async``: FastAPI runs a plain ``def``
# dependency in its thread pool, a hop that costs more than the lookup.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    with runtime.sessions() as session:
        yield session


async def get_library() -> QuestionLibrary:
    return load_question_library()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
LibraryDep = Annotated[QuestionLibrary, Depends(get_library)]
SessionDep = Annotated[Session, Depends(get_session)]
