"""The HTTP API through a real socket: uvicorn in a thread, and ``surveyrouter serve`` itself."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from surveyrouter.api.app import create_app
from surveyrouter.bootstrap import Runtime, build_runtime
from surveyrouter.cli import bind
from surveyrouter.settings import Settings
from surveyrouter.store.apps import find_app_by_token

TRACE_ID = re.compile(r"[0-9a-f]{16}")
# How long a test's HTTP client waits for an answer: a fresh server's first request on a
# loaded CI machine has taken longer than httpx's 5 s default.
HTTP_TIMEOUT = 30.0


@contextmanager
def serving(app: FastAPI, listener: socket.socket | None = None) -> Iterator[str]:
    """Serve ``app`` on ``listener`` (default: a new loopback port) until the block ends."""
    listener = listener or bind("127.0.0.1", 0)
    port = listener.getsockname()[1]
    # As ``serve`` runs it: X-Forwarded-For is left to the app's own trusted-proxy rule.
    config = uvicorn.Config(app, log_config=None, access_log=False, proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        listener.close()


def assert_error_envelope(response: httpx.Response, status_line: str) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"data", "error", "status", "trace_id"}
    assert body["data"] is None
    assert body["status"] == "error"
    assert body["error"]["details"]["http"] == status_line
    assert isinstance(body["error"]["details"]["msg"], str)
    assert TRACE_ID.fullmatch(body["trace_id"])
    return body


@pytest.fixture
def base_url(runtime: Runtime) -> Iterator[str]:
    with serving(create_app(runtime)) as url:
        yield url


def test_healthz_reports_the_database_and_version(base_url: str, runtime: Runtime) -> None:
    response = httpx.get(f"{base_url}/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"]
    assert body["database"] == {"ok": True, "backend": runtime.engine.dialect.name}
    assert TRACE_ID.fullmatch(response.headers["x-trace-id"])


def test_unknown_paths_answer_404_in_the_error_envelope(base_url: str) -> None:
    response = httpx.get(f"{base_url}/no/such/thing")

    assert response.status_code == 404
    body = assert_error_envelope(response, "404 Not Found")
    assert body["trace_id"] == response.headers["x-trace-id"]


def test_openapi_and_docs_are_served(base_url: str) -> None:
    spec = httpx.get(f"{base_url}/openapi.json")
    docs = httpx.get(f"{base_url}/docs")

    assert spec.status_code == 200
    assert {"/healthz", "/metrics"} <= set(spec.json()["paths"])
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_metrics_count_requests_by_route_and_status_and_gauge_live_opportunities(
    base_url: str,
) -> None:
    httpx.get(f"{base_url}/healthz")
    httpx.get(f"{base_url}/missing")
    response = httpx.get(f"{base_url}/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'surveyrouter_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    )
    assert (
        'surveyrouter_http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0'
        in text
    )
    assert 'surveyrouter_http_request_duration_seconds_count{method="GET",route="/healthz"' in text
    assert 'surveyrouter_live_opportunities{network="sandbox"} 0.0' in text
    # No listing call is in flight while /metrics answers.
    assert "surveyrouter_matching_lane_running 0.0" in text
    assert "surveyrouter_matching_lane_waiting 0.0" in text


def test_validation_and_unexpected_errors_use_the_envelope(runtime: Runtime) -> None:
    app = create_app(runtime)

    @app.get("/items/{number}")
    def item(number: int) -> dict[str, int]:
        return {"number": number}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail")

    with serving(app) as url:
        invalid = httpx.get(f"{url}/items/seven")
        crashed = httpx.get(f"{url}/boom")

    assert invalid.status_code == 422
    assert "number" in str(assert_error_envelope(invalid, "422 Unprocessable Entity")["error"])
    assert crashed.status_code == 500
    body = assert_error_envelope(crashed, "500 Internal Server Error")
    assert crashed.headers["x-trace-id"] == body["trace_id"]
    assert "secret detail" not in crashed.text
    assert body["error"] == {
        "details": {"http": "500 Internal Server Error", "msg": "internal server error"}
    }


def test_healthz_answers_503_when_the_database_is_down() -> None:
    # Nothing listens on port 1, so every connection is refused at once.
    runtime = build_runtime(Settings(database_url="postgresql://nobody@127.0.0.1:1/none"))
    try:
        with serving(create_app(runtime)) as url:
            health = httpx.get(f"{url}/healthz")
            metrics = httpx.get(f"{url}/metrics")
    finally:
        runtime.close()

    assert health.status_code == 503
    assert health.json()["status"] == "unavailable"
    assert health.json()["database"]["ok"] is False
    assert metrics.status_code == 200
    assert "surveyrouter_http_requests_total" in metrics.text


def test_a_database_that_does_not_answer_is_a_503_to_retry_not_a_500() -> None:
    runtime = build_runtime(Settings(database_url="postgresql://nobody@127.0.0.1:1/none"))
    try:
        with serving(create_app(runtime)) as url:
            listing = httpx.get(
                f"{url}/v1/client/actions", headers={"X-Api-Token": "t", "X-User-Id": "u"}
            )
            imported = httpx.post(
                f"{url}/v1/publishers/users", headers={"X-S2S-Token": "s"}, json={"users": []}
            )
    finally:
        runtime.close()

    for response in (listing, imported):
        assert response.status_code == 503
        body = assert_error_envelope(response, "503 Service Unavailable")
        assert body["error"] == {
            "details": {
                "http": "503 Service Unavailable",
                "msg": "the database is not answering; retry shortly",
            }
        }
        assert response.headers["retry-after"] == "5"
        assert response.headers["x-trace-id"] == body["trace_id"]


def test_serve_migrates_prints_its_urls_and_answers(database_url: str, tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "SURVEYROUTER_DATABASE_URL": database_url,
        "SURVEYROUTER_SANDBOX_STATE_PATH": str(tmp_path / "sandbox-exchange.db"),
        "SURVEYROUTER_SANDBOX_OPPORTUNITIES": "200",
        "SURVEYROUTER_LOG_LEVEL": "INFO",
        "COLUMNS": "120",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "surveyrouter", "serve", "--host", "127.0.0.1", "--port", "0"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = read_banner(process)
        health_url = re.search(r"http://127\.0\.0\.1:\d+/healthz", banner)
        assert health_url is not None, banner
        health_url = health_url.group(0)
        assert not health_url.endswith(":8000/healthz"), "--port 0 must pick a free port"
        # A first start creates a demo app and prints its token, for a first API call.
        token = re.search(r"API token\s*│?\s*([0-9a-f-]{36})", banner)
        assert token is not None, banner
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.get(health_url)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert response.status_code == 200
        assert response.json()["database"]["ok"] is True
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=15)

    lines = [json.loads(line) for line in errors.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("msg") == "request"]
    assert requests
    runtime = build_runtime(Settings(database_url=database_url))
    try:
        with runtime.sessions() as session:
            demo = find_app_by_token(session, token.group(1))
    finally:
        runtime.close()
    assert demo is not None
    assert {"method", "path", "status", "duration_ms", "trace_id"} <= set(requests[0])
    assert any("Running upgrade" in line["msg"] for line in lines)


def read_banner(process: subprocess.Popen[str]) -> str:
    """What ``serve`` printed up to its last banner row (the first app's API token)."""
    assert process.stdout is not None
    printed = []
    for line in process.stdout:
        printed.append(line)
        if "API token" in line:
            return "".join(printed)
    raise AssertionError(f"serve printed no banner: {''.join(printed)!r}")


def worker_pids(supervisor: int) -> set[int]:
    """The supervisor's API worker processes (multiprocessing's spawned children)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return {int(pid) for pid in children if "spawn_main" in _command_line(int(pid))}


def _command_line(pid: int) -> str:
    """The process's command line; empty once it has gone (a worker just killed and reaped
    between listing the children and reading this)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return ""


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_serve_with_two_workers_serves_restarts_a_dead_worker_and_stops_them_all(
    database_url: str,
) -> None:
    environment = {
        **os.environ,
        "SURVEYROUTER_DATABASE_URL": database_url,
        "SURVEYROUTER_SANDBOX_ENABLED": "false",
        "SURVEYROUTER_LOG_LEVEL": "INFO",
        "COLUMNS": "120",
    }
    command = [sys.executable, "-m", "surveyrouter", "serve", "--port", "0", "--workers", "2"]
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        banner = read_banner(process)
        assert re.search(r"Workers\s*│?\s*2 API processes", banner), banner
        found = re.search(r"http://127\.0\.0\.1:\d+/healthz", banner)
        assert found is not None, banner
        health_url = found.group(0)

        def healthy() -> bool:
            try:
                return httpx.get(health_url, timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(lambda: len(worker_pids(process.pid)) == 2 and healthy())
        first = worker_pids(process.pid)
        killed = min(first)
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: len(worker_pids(process.pid) - first) == 1)
        assert killed not in worker_pids(process.pid)
        wait_for(healthy)
        # New connections reach either worker; all of them are answered.
        answers = {httpx.get(health_url, timeout=5).status_code for _ in range(20)}
        assert answers == {200}
        workers = worker_pids(process.pid)
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=60)

    assert process.returncode == 0, errors[-2000:]
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists()  # stopped and reaped by the supervisor
    messages = [json.loads(line)["msg"] for line in errors.splitlines() if line.startswith("{")]
    assert any(
        "exited with code" in message and "starting another" in message for message in messages
    )


def test_serve_refuses_several_workers_with_the_embedded_sandbox(database_url: str) -> None:
    environment = {**os.environ, "SURVEYROUTER_DATABASE_URL": database_url, "COLUMNS": "200"}
    finished = subprocess.run(
        [sys.executable, "-m", "surveyrouter", "serve", "--port", "0", "--workers", "2"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    assert "SURVEYROUTER_SANDBOX_URL" in finished.stdout + finished.stderr
