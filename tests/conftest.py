"""Fixtures every test suite may use."""

from __future__ import annotations

from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
# Real exchange payloads live beside the repository (STYLE: "real payloads beat invented ones").
SHARED_FIXTURES = REPOSITORY.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def rex_fixtures() -> Path:
    """The directory of real Dynata REX payloads (``../shared/fixtures/rex``)."""
    directory = SHARED_FIXTURES / "rex"
    if not directory.is_dir():
        pytest.fail(f"the shared REX fixtures are missing: expected {directory}")
    return directory
