"""Dynata's own archived Python SDK (dynata-rex 1.3.1) against ``surveyrouter sandbox``.

The SDK pins ``pydantic==1.8.2``, which does not import on Python 3.11, so it gets a virtualenv
of its own at ``.venv/rex-sdk`` (inside the project's, so ``make clean`` removes it): the SDK
with ``--no-deps``, then ``requirements.txt`` (pydantic 1.10, requests 2.27.1, exact pins)
normally. A stamp holding the hash of what was installed lets later runs reuse it.

``drive_sandbox.py`` runs in that virtualenv against a sandbox started as a subprocess, using the
SDK's public API only, and prints one JSON object of what it saw; each test below reads one
step of it, so a failure names the step and the field.

When the virtualenv cannot be built (no network to PyPI, say) the tests are skipped with the pip
output, except under ``CI=true`` (``.ci/run``), where they fail.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parents[2]
SDK_VENV = REPOSITORY / ".venv" / "rex-sdk"
SDK_PYTHON = SDK_VENV / "bin" / "python"
STAMP = SDK_VENV / ".installed-sha256"
REQUIREMENTS = HERE / "requirements.txt"
DRIVER = HERE / "drive_sandbox.py"
# Installed with --no-deps: its own pins (pydantic==1.8.2) cannot be met on Python 3.11.
SDK_PACKAGE = "dynata-rex==1.3.1"
INSTALL_TIMEOUT_SECONDS = 900

API_KEYS = ("sdk-access-key", "sdk-secret-key")
# REX §1.5: returns are signed with a key pair distinct from the API one.
REDIRECT_KEYS = ("sdk-redirect-access-key", "sdk-redirect-secret-key")
# Port 9 (discard) is never listened on: the test reads the 302's Location, never follows it.
RETURN_URL = "http://127.0.0.1:9/return"
MARKET_SIZE = 60
# A seed whose market holds an opportunity the driver can qualify a respondent for outright
# and a COLLECTION cell the SDK parses (the driver says so when a market has none).
SEED = 7
# REX §8: the SDK's cell union knows VALUE, LIST, RANGE and COLLECTION only.
KINDS_UNKNOWN_TO_SDK = {"INEFFABLE", "ANSWERED", "INVITE_COLLECTIONS", "STATIC_INVITE_COLLECTIONS"}
# What Signer.create_expiration_date emits and Signer.is_expired can parse (REX §1.4).
SDK_EXPIRATION = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


# --- the SDK's virtualenv ------------------------------------------------------------------------


class SdkInstallFailed(Exception):
    pass


@pytest.fixture(scope="session")
def sdk_python() -> Path:
    """The interpreter of the SDK's virtualenv, built unless its stamp matches."""
    SDK_VENV.parent.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers build it once between them.
    with _locked(SDK_VENV.with_name("rex-sdk.lock")):
        wanted = _install_digest()
        if SDK_PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
            return SDK_PYTHON
        try:
            _build_sdk_venv()
        except SdkInstallFailed as failure:
            reason = (
                f"the dynata-rex SDK virtualenv at {SDK_VENV} could not be built, so Dynata's "
                f"SDK was NOT run against the sandbox. {failure}"
            )
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI=true: {reason}", pytrace=False)
            pytest.skip(reason)
        STAMP.write_text(wanted + "\n")
    return SDK_PYTHON


def _install_digest() -> str:
    """What the virtualenv is built from: the SDK pin, its requirements, the interpreter."""
    digest = hashlib.sha256()
    digest.update(f"{SDK_PACKAGE}\n{sys.version}\n".encode())
    digest.update(REQUIREMENTS.read_bytes())
    return digest.hexdigest()


def _build_sdk_venv() -> None:
    shutil.rmtree(SDK_VENV, ignore_errors=True)
    pip = [str(SDK_PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    _run([sys.executable, "-m", "venv", str(SDK_VENV)])
    _run([*pip, "--no-deps", SDK_PACKAGE])
    # pip says the SDK "requires pydantic==1.8.2" here, and exits 0: that pin is the point.
    _run([*pip, "-r", str(REQUIREMENTS)])
    # Everything the SDK needs at import time is there.
    _run([str(SDK_PYTHON), "-I", "-c", "import dynata_rex, dynata_rex.models"])


def _run(command: list[str]) -> None:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"
    }
    shown = " ".join(command)
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
            env=environment,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise SdkInstallFailed(f"`{shown}` took over {error.timeout} s") from error
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-6000:]
        raise SdkInstallFailed(f"`{shown}` exited {done.returncode}:\n{output}")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --- one run of the driver against one sandbox -----------------------------------------------


@pytest.fixture(scope="module")
def driven(sdk_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Start the sandbox, run the driver against it, stop the sandbox; the driver's results
    with the sandbox's base URL under ``"base_url"``."""
    sandbox_log = tmp_path_factory.mktemp("rex-sdk") / "sandbox.stderr"
    command = [
        sys.executable, "-m", "surveyrouter", "sandbox", "--host", "127.0.0.1", "--port", "0",
        "--access-key", API_KEYS[0], "--secret-key", API_KEYS[1],
        "--redirect-access-key", REDIRECT_KEYS[0], "--redirect-secret-key", REDIRECT_KEYS[1],
        "--partner-return-url", RETURN_URL, "--opportunities", str(MARKET_SIZE),
        "--seed", str(SEED), "--frozen", "--force-outcome", "1.0",
    ]  # fmt: skip
    environment = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    with sandbox_log.open("w") as log:
        process = subprocess.Popen(
            command, env=environment, stdout=subprocess.PIPE, stderr=log, text=True
        )
        try:
            base_url = _read_base_url(process, sandbox_log)
            run = subprocess.run(
                _driver_command(sdk_python, base_url),
                capture_output=True,
                text=True,
                timeout=300,
                env=_driver_environment(),
                check=False,
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
    try:
        results = json.loads(run.stdout)
    except ValueError:
        results = None
    if run.returncode != 0 or not isinstance(results, dict):
        pytest.fail(
            f"the driver exited {run.returncode} without a JSON result.\n"
            f"stdout:\n{run.stdout[-4000:]}\nstderr:\n{run.stderr[-4000:]}\n"
            f"sandbox stderr:\n{sandbox_log.read_text()[-4000:]}",
            pytrace=False,
        )
    return {**results, "base_url": base_url}


def _driver_command(sdk_python: Path, base_url: str) -> list[str]:
    return [
        str(sdk_python), "-I", str(DRIVER), "--base-url", base_url,
        "--access-key", API_KEYS[0], "--secret-key", API_KEYS[1],
        "--redirect-access-key", REDIRECT_KEYS[0], "--redirect-secret-key", REDIRECT_KEYS[1],
    ]  # fmt: skip


def _driver_environment() -> dict[str, str]:
    """Nothing of the project's environment: no proxies for loopback, the SDK's own knobs."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "NO_PROXY": "127.0.0.1,localhost",
        # helpers.py: seconds per request, and tries on a connection error.
        "DEFAULT_TIMEOUT": "30",
        "DEFAULT_RETRIES": "2",
    }


def _read_base_url(process: subprocess.Popen[str], log: Path) -> str:
    """The registry-and-gateway URL from the banner. stdout keeps being drained afterwards so
    the sandbox never blocks on a full pipe."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    printed: list[str] = []
    deadline = time.monotonic() + 60
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if line is None:
            break
        printed.append(line)
        match = re.search(r"Registry and gateway\W+(http://127\.0\.0\.1:\d+)", line)
        if match:
            return match.group(1)
    raise AssertionError(
        f"the sandbox printed no base URL within 60 s; stdout:\n{''.join(printed)}\n"
        f"stderr:\n{log.read_text()[-4000:]}"
    )


def step(results: dict[str, Any], name: str) -> dict[str, Any]:
    """One step of the driver's results; a step that raised fails the test with its error."""
    outcome: dict[str, Any] = results[name]
    if "error" in outcome:
        pytest.fail(
            f"driver step {name!r} failed: {outcome['error']}\n"
            + "\n".join(outcome.get("traceback", [])),
            pytrace=False,
        )
    return outcome


def market_ids(results: dict[str, Any]) -> set[int]:
    notifications = step(results, "notifications")
    return {*notifications["received_ids"], *notifications["dropped_ids"]}


# --- the tests -----------------------------------------------------------------------------------


def test_the_sdk_runs_with_the_pinned_dependencies(driven: dict[str, Any]) -> None:
    pins = dict(
        line.split("==")
        for line in REQUIREMENTS.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert driven["sdk"] == {
        "dynata-rex": SDK_PACKAGE.split("==")[1],
        "pydantic": pins["pydantic"],
        "requests": pins["requests"],
    }
    assert pins["pydantic"].startswith("1.10.")


def test_receive_and_ack_notifications_deliver_every_opportunity_once(
    driven: dict[str, Any],
) -> None:
    notifications = step(driven, "notifications")
    received, dropped = notifications["received_ids"], notifications["dropped_ids"]
    batches = notifications["batches"]

    assert len(received) == len(set(received)), "an acked notification came back"
    assert len(dropped) == len(set(dropped)), "a notification the SDK acked came back"
    assert not set(received) & set(dropped)
    assert len(received) + len(dropped) == MARKET_SIZE
    # Acked (by the driver, or by the SDK for what it dropped), nothing is left in the queue.
    assert batches[-1] == {"parsed": 0, "dropped": 0}
    assert all(b["parsed"] + b["dropped"] <= 25 for b in batches), batches
    # /ack-notifications answers 204; the SDK returns the empty body as "".
    assert all(b["ack_answer"] == "" for b in batches if b["parsed"]), batches
    assert notifications["live_links"] == [f"{driven['base_url']}/start"]


def test_the_sdk_drops_only_opportunities_with_cell_kinds_its_models_lack(
    driven: dict[str, Any],
) -> None:
    """REX §8: the SDK's cell union lacks INEFFABLE, ANSWERED and the invite kinds, so
    ``receive_notifications`` logs, acks and drops every opportunity holding one (about half
    of this market). The sandbox keeps them: they are REX's documented wire format (§4), and
    a market without them would hide the data loss a partner on this SDK meets in production.
    What is pinned here is that nothing else fails to parse."""
    notifications = step(driven, "notifications")
    reasons = notifications["dropped_reasons"]

    assert notifications["received_ids"], "the SDK parsed no opportunity at all"
    assert set(reasons) == {str(i) for i in notifications["dropped_ids"]}
    not_about_kinds = {
        i: r
        for i, r in reasons.items()
        if r.get("other_errors") != [] or not r.get("unknown_cell_kinds")
    }
    assert not_about_kinds == {}, "dropped for something else than an unknown cell kind"
    kinds = {kind for r in reasons.values() for kind in r["unknown_cell_kinds"]}
    assert kinds <= KINDS_UNKNOWN_TO_SDK


def test_get_opportunity_returns_what_the_notification_carried(driven: dict[str, Any]) -> None:
    fetched = step(driven, "get_opportunity")

    assert fetched["equals_notification"] is True
    assert fetched["status"] == "OPEN"
    assert fetched["missing"]["raised"] == "RexServiceException"
    assert set(fetched["missing"]["body"]) == {"message"}
    assert str(fetched["missing_id"]) in fetched["missing"]["body"]["message"]


def test_list_project_opportunities_lists_the_project(driven: dict[str, Any]) -> None:
    project = step(driven, "project")

    assert project["opportunity_id"] in project["ids"]
    assert all(isinstance(i, int) for i in project["ids"])
    assert set(project["ids"]) <= market_ids(driven)


def test_download_collection_returns_the_referenced_values(driven: dict[str, Any]) -> None:
    collection = step(driven, "collection")
    values = collection["values"]

    assert values
    # REX §8: the SDK splits the body on "\n"; a trailing newline would add an empty value.
    assert "" not in values
    assert len(values) == len(set(values))
    if collection["attribute_id"] == 8:  # REX §7: postal codes
        assert all(re.fullmatch(r"\d{5}", v) for v in values), values


def test_an_sdk_signed_entry_link_returns_a_redirect_the_sdk_verifies(
    driven: dict[str, Any],
) -> None:
    entry = step(driven, "entry")
    returned = entry.get("parameters", {})

    assert entry["status_code"] == 302, entry.get("body")
    assert entry["entry_self_verifies"] is True
    assert entry["location"].startswith(f"{RETURN_URL}?")
    assert entry["verified_with_redirect_keys"] is True
    assert entry["verified_with_api_keys"] is False
    assert entry["tampered_verified"] == {"disposition": False, "sub_id": False}
    assert returned["access_key"] == REDIRECT_KEYS[0]
    assert SDK_EXPIRATION.fullmatch(returned["expiration"]), returned["expiration"]
    # §6.3: what the gateway does not read itself goes back to the partner, as sent.
    assert returned["sub_id"] == "sdk run/1"
    # A profile the targeting fully accepts, and --force-outcome 1.0.
    assert (returned["disposition"], returned["status"]) == ("1", "0")
    assert entry["disposition"] == {"name": "COMPLETE"}
    assert entry["status"] == {"name": "COMPLETE_DEFAULT"}


def test_a_forged_entry_link_is_refused(driven: dict[str, Any]) -> None:
    forged = step(driven, "forged_entry")

    assert forged["status_code"] == 401
    assert forged["location"] is None
    assert set(forged["body"]) == {"message"}


def test_entering_the_same_project_again_is_a_verified_duplicate(driven: dict[str, Any]) -> None:
    again = step(driven, "second_entry")
    returned = again.get("parameters", {})

    assert again["status_code"] == 302, again.get("body")
    assert again["verified_with_redirect_keys"] is True
    assert again["tampered_verified"] == {"disposition": False, "sub_id": False}
    # 4.1 Duplicate Respondent (REX §6.5). The SDK's GatewayStatusEnum knows only 4.0 and
    # raises on anything else (§8); its disposition lookup still works.
    assert (returned["disposition"], returned["status"]) == ("4", "1")
    assert again["disposition"] == {"name": "DUPLICATE"}
    assert again["status"] == {
        "error": "ValueError: (<GatewayDispositionsEnum.DUPLICATE: 4>, 1) is not a valid "
        "GatewayStatusEnum"
    }


def test_the_sandbox_answers_the_sdks_receive_invites(driven: dict[str, Any]) -> None:
    """The SDK posts to ``/receive_invites`` (§8), which the sandbox serves. It answers the
    documented ``[{invite: {…}, created}]`` (§2.6); the SDK expects a flat invite, fails to
    parse it and then reads ``inv['id']``, which the documented shape has not: KeyError."""
    invites = driven["invites"]

    assert "refused" not in invites, f"the sandbox refused the SDK's call: {invites}"
    assert invites.get("sdk_error", "KeyError: 'id'") == "KeyError: 'id'", invites
