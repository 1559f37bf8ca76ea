"""The http runner against a real local server (Starlette under uvicorn on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from opsroom.core import ConfigError, OutputChunk, RunnerSpec
from opsroom.features import build_runner
from opsroom.runs.runners import check_runner_args


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []


RECORDER = Recorder()


async def record(request: Request) -> Response:
    body = await request.body()
    RECORDER.requests.append(
        {
            "method": request.method,
            "raw_path": request.scope["raw_path"].decode(),
            "query": request.scope["query_string"].decode(),
            "headers": dict(request.headers),
            "body": body.decode(),
        }
    )
    code = int(request.path_params.get("code", 200))
    return PlainTextResponse(f"status {code}\nsecond line", status_code=code)


async def slow(request: Request) -> Response:
    await asyncio.sleep(3)
    return PlainTextResponse("late")


async def big(request: Request) -> Response:
    return PlainTextResponse("z" * 1_000_000)


app = Starlette(
    routes=[
        Route("/status/{code:int}", record, methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/svc/{name:path}", record, methods=["GET", "POST"]),
        Route("/slow", slow),
        Route("/big", big),
    ]
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)
    sock.close()


@pytest.fixture(autouse=True)
def clear_recorder() -> None:
    RECORDER.requests.clear()


def http_runner(**options: Any):  # type: ignore[no-untyped-def]
    return build_runner(RunnerSpec("http", options))


def texts(chunks: list[OutputChunk]) -> list[str]:
    return [c.text for c in chunks]


async def test_expected_status_shows_request_line_and_excerpt(base_url, make_ctx, collect):
    chunks = await collect(http_runner(url=base_url + "/status/200"), make_ctx())
    assert chunks == [
        OutputChunk(f"GET {base_url}/status/200 -> 200 OK"),
        OutputChunk("status 200"),
        OutputChunk("second line"),
        OutputChunk("", exit_code=0),
    ]


async def test_unexpected_status_fails_with_a_clear_line(base_url, make_ctx, collect):
    chunks = await collect(http_runner(method="post", url=base_url + "/status/503"), make_ctx())
    assert chunks[0].text == f"POST {base_url}/status/503 -> 503 Service Unavailable"
    assert chunks[-1] == OutputChunk("unexpected status 503 (expected 2xx)", "stderr", exit_code=1)


async def test_expect_status_accepts_an_int_or_a_list(base_url, make_ctx, collect):
    ok = await collect(http_runner(method="DELETE", url=base_url + "/status/404", expect_status=[200, 404]), make_ctx())
    assert ok[-1].exit_code == 0
    wrong = await collect(http_runner(url=base_url + "/status/200", expect_status=201), make_ctx())
    assert wrong[-1] == OutputChunk("unexpected status 200 (expected 201)", "stderr", exit_code=1)


async def test_timeout_is_a_failed_run_with_a_clear_line(base_url, make_ctx, collect):
    started = time.monotonic()
    chunks = await collect(http_runner(url=base_url + "/slow", timeout=0.3), make_ctx())
    assert chunks == [OutputChunk(f"GET {base_url}/slow failed: no answer within 0.3 s", "stderr", exit_code=1)]
    assert time.monotonic() - started < 2


async def test_connection_refused_is_a_failed_run_with_a_clear_line(make_ctx, collect):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now
    chunks = await collect(http_runner(url=f"http://127.0.0.1:{port}/x"), make_ctx())
    assert len(chunks) == 1 and chunks[0].exit_code == 1 and chunks[0].stream == "stderr"
    assert chunks[0].text.startswith(f"GET http://127.0.0.1:{port}/x failed: could not connect (")
    assert "refused" in chunks[0].text.lower()


async def test_token_from_env_is_sent_but_never_shown(base_url, monkeypatch, make_ctx, collect):
    monkeypatch.setenv("OPSROOM_TEST_TOKEN", "tok-very-secret-123")
    runner = http_runner(
        url=base_url + "/status/200", headers={"Authorization": "Bearer ${OPSROOM_TEST_TOKEN}", "X-Who": "{user}"}
    )
    chunks = await collect(runner, make_ctx({"user": "alice"}))
    assert RECORDER.requests[0]["headers"]["authorization"] == "Bearer tok-very-secret-123"
    assert RECORDER.requests[0]["headers"]["x-who"] == "alice"
    assert not any("tok-very-secret-123" in c.text for c in chunks)
    assert chunks[-1].exit_code == 0


async def test_argument_value_cannot_pull_in_an_env_variable(base_url, monkeypatch, make_ctx, collect):
    monkeypatch.setenv("OPSROOM_TEST_TOKEN", "tok-very-secret-123")
    runner = http_runner(url=base_url + "/status/200", headers={"X-Note": "{note}"})
    await collect(runner, make_ctx({"note": "${OPSROOM_TEST_TOKEN}"}))
    assert RECORDER.requests[0]["headers"]["x-note"] == "${OPSROOM_TEST_TOKEN}"


async def test_missing_env_variable_is_a_clear_error_and_nothing_is_sent(base_url, monkeypatch, make_ctx, collect):
    monkeypatch.delenv("OPSROOM_NOT_SET", raising=False)
    runner = http_runner(url=base_url + "/status/200", headers={"Authorization": "Bearer ${OPSROOM_NOT_SET}"})
    chunks = await collect(runner, make_ctx())
    assert chunks == [
        OutputChunk("cannot send request: environment variable OPSROOM_NOT_SET is not set", "stderr", exit_code=1)
    ]
    assert RECORDER.requests == []


async def test_credentials_in_the_url_are_not_shown(base_url, make_ctx, collect):
    url = base_url.replace("http://", "http://deploy:pa55word@") + "/status/200?api_key=k3y&env=prod"
    chunks = await collect(http_runner(url=url), make_ctx())
    assert chunks[0].text == f"GET {base_url}/status/200?api_key=***&env=prod -> 200 OK"
    assert not any("pa55word" in c.text or "k3y" in c.text for c in chunks)
    assert RECORDER.requests[0]["query"] == "api_key=k3y&env=prod"


async def test_argument_values_are_url_quoted_into_one_segment(base_url, make_ctx, collect):
    runner = http_runner(url=base_url + "/svc/{name}?tag={tag}")
    await collect(runner, make_ctx({"name": "../admin?x=1#f", "tag": "a&b=c d"}))
    seen = RECORDER.requests[0]
    assert seen["raw_path"] == "/svc/..%2Fadmin%3Fx%3D1%23f"
    assert seen["query"] == "tag=a%26b%3Dc%20d"


async def test_json_body_keeps_types_and_quotes_strings(base_url, make_ctx, collect):
    runner = http_runner(
        method="POST",
        url=base_url + "/status/201",
        json={
            "service": "{service}",
            "replicas": "{n}",
            "note": "deploy {service}",
            "dry": "{dry}",
            "fixed": [1, None, True],
        },
    )
    evil = '", "admin": true, "x": "'
    chunks = await collect(runner, make_ctx({"service": evil, "n": 3, "dry": False}))
    assert chunks[-1].exit_code == 0
    body = json.loads(RECORDER.requests[0]["body"])
    assert body == {"service": evil, "replicas": 3, "note": f"deploy {evil}", "dry": False, "fixed": [1, None, True]}
    assert RECORDER.requests[0]["headers"]["content-type"] == "application/json"


async def test_text_body_is_templated(base_url, make_ctx, collect):
    runner = http_runner(
        method="PUT", url=base_url + "/status/200", body="service={service}\n", headers={"Content-Type": "text/plain"}
    )
    await collect(runner, make_ctx({"service": "api"}))
    assert RECORDER.requests[0]["body"] == "service=api\n"


async def test_header_value_with_a_line_break_is_refused(base_url, make_ctx, collect):
    runner = http_runner(url=base_url + "/status/200", headers={"X-Note": "{note}"})
    chunks = await collect(runner, make_ctx({"note": "x\r\nX-Admin: 1"}))
    assert chunks == [
        OutputChunk("cannot send request: header X-Note would contain a line break", "stderr", exit_code=1)
    ]
    assert RECORDER.requests == []


async def test_response_excerpt_is_capped(base_url, make_ctx, collect):
    chunks = await collect(http_runner(url=base_url + "/big", excerpt_chars=100), make_ctx())
    assert texts(chunks) == [
        f"GET {base_url}/big -> 200 OK",
        "z" * 100,
        "[response truncated to the first 100 characters]",
        "",
    ]


async def test_dry_run_sends_nothing(base_url, make_ctx, collect):
    runner = http_runner(method="POST", url=base_url + "/svc/{name}")
    chunks = await collect(runner, make_ctx({"name": "api"}, dry_run=True))
    assert chunks == [OutputChunk(f"dry run: would send POST {base_url}/svc/api", exit_code=0)]
    assert RECORDER.requests == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "'url' is required"),
        ({"url": "ftp://example.com/x"}, "must start with http:// or https://"),
        ({"url": "{base}/deploy"}, "must start with http:// or https://"),
        ({"url": "https://{host}/deploy"}, "must name its host as fixed text"),
        ({"url": "https://example.com{path}"}, "must name its host as fixed text"),
        ({"url": "https://example.com/", "method": "BREW"}, "'method' must be one of"),
        ({"url": "https://example.com/", "json": {}, "body": "x"}, "cannot both be set"),
        ({"url": "https://example.com/", "expect_status": "2xx"}, "'expect_status' must be a status code"),
        ({"url": "https://example.com/", "expect_status": [200, 999]}, "'expect_status' must be"),
        ({"url": "https://example.com/", "headers": {"Bad Header": "x"}}, "bad header name"),
        ({"url": "https://example.com/", "timeout": 0}, "'timeout' must be at least"),
        ({"url": "https://example.com/", "retries": 3}, "unknown option 'retries'"),
        ({"url": "https://example.com/", "json": {"when": object()}}, "not JSON"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(options, message):
    with pytest.raises(ConfigError, match="http runner") as err:
        build_runner(RunnerSpec("http", options))
    assert message in str(err.value)


def test_unknown_placeholder_anywhere_is_caught_at_load_time():
    runner = http_runner(url="https://example.com/{service}", headers={"X-Env": "{env}"}, json={"a": ["{tag}"]})
    check_runner_args(runner, ["service", "env", "tag"])
    with pytest.raises(ConfigError, match=r"unknown placeholder \{tag\}"):
        check_runner_args(runner, ["service", "env"])
