"""`surveyrouter explain OPPORTUNITY.json PROFILE.json [--now]` prints a verdict as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from surveyrouter.cli import app

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "rex"
NOW = "2026-11-23T12:00:00Z"


@pytest.fixture
def opportunity_13231(tmp_path: Path) -> Path:
    notifications = json.loads((FIXTURES / "receive_notifications.json").read_text())
    path = tmp_path / "opportunity.json"
    path.write_text(json.dumps(next(o for o in notifications if o["id"] == 13231)))
    return path


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def explain(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["explain", *args])
    return result.exit_code, result.stdout, result.stderr


def test_young_man_in_the_collection_is_eligible_with_his_quota(
    tmp_path: Path, opportunity_13231: Path
) -> None:
    zips = (FIXTURES / "download_collection.txt").read_text().split()
    profile = write(
        tmp_path,
        "profile.json",
        {
            "country": "US",
            "language": "en",
            "device": "mobile",
            "gender": "male",
            "birth_date": "2004-03-01",
            "postal_code": "10110",
            "collections": {"2169971": zips},
        },
    )
    code, out, _ = explain(str(opportunity_13231), str(profile), "--now", NOW)
    assert code == 0
    assert json.loads(out) == {
        "result": "eligible",
        "exact_match": True,
        "matched_quotas": ["6f49b6b637befada84f2c57f8afb5f0cc53b2a35e970431fd4348ff58d6cf348"],
        "missing_attributes": [],
        "reason": None,
    }


def test_empty_profile_is_unknown_and_names_the_standard_attributes(
    tmp_path: Path, opportunity_13231: Path
) -> None:
    code, out, _ = explain(str(opportunity_13231), str(write(tmp_path, "p.json", {})))
    assert code == 0
    verdict = json.loads(out)
    assert verdict["result"] == "unknown"
    assert verdict["missing_attributes"] == [1, 8, 80]


def test_woman_fails_the_male_filter(tmp_path: Path, opportunity_13231: Path) -> None:
    profile = write(tmp_path, "p.json", {"gender": "female", "country": "US", "language": "en"})
    code, out, _ = explain(str(opportunity_13231), str(profile), "--now", NOW)
    assert code == 0
    assert json.loads(out)["reason"] == {"disposition": 2, "status": 6}


def test_age_is_taken_at_the_given_time(tmp_path: Path, opportunity_13231: Path) -> None:
    profile = {"gender": "male", "birth_date": "2001-12-01", "postal_code": "10110",
               "country": "US", "language": "en", "device": "desktop",
               "collections": {"2169971": ["10110"]}}  # fmt: skip
    path = write(tmp_path, "p.json", profile)
    before = json.loads(explain(str(opportunity_13231), str(path), "--now", "2026-11-30")[1])
    after = json.loads(explain(str(opportunity_13231), str(path), "--now", "2026-12-01")[1])
    assert before["matched_quotas"] == [
        "6f49b6b637befada84f2c57f8afb5f0cc53b2a35e970431fd4348ff58d6cf348"  # male 18-24
    ]
    assert after["matched_quotas"] == [
        "0a538c0eabad742acc3f1cf7ac5ab5415b36cef027ba174b703d6d30ea945b85"  # male 25-31
    ]


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ("not json", "the profile is not JSON"),
        ('{"gender": "x"}', "profile: gender"),
        ('{"answers": {"12": "4"}}', "profile: answers.12"),
        ('{"surname": "Smith"}', "profile: surname"),
        ("[1, 2]", "profile: document"),
    ],
)
def test_bad_profile_gets_one_line_and_exit_2(
    tmp_path: Path, opportunity_13231: Path, profile: str, message: str
) -> None:
    code, out, err = explain(str(opportunity_13231), str(write(tmp_path, "p.json", profile)))
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert message in err


@pytest.mark.parametrize(
    ("opportunity", "message"),
    [
        ("{", "the opportunity is not JSON"),
        ({"id": 1}, "status"),
        ([], "Input should be a valid dictionary"),
    ],
)
def test_bad_opportunity_gets_one_line_and_exit_2(
    tmp_path: Path, opportunity: Any, message: str
) -> None:
    path = write(tmp_path, "o.json", opportunity)
    code, _, err = explain(str(path), str(write(tmp_path, "p.json", {})))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert message in err


def test_missing_file_and_bad_time_exit_2(tmp_path: Path, opportunity_13231: Path) -> None:
    profile = str(write(tmp_path, "p.json", {}))
    assert explain(str(tmp_path / "absent.json"), profile)[0] == 2
    code, _, err = explain(str(opportunity_13231), profile, "--now", "yesterday")
    assert code == 2
    assert "--now" in err
