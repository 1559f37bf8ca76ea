"""The shared vendor HTTP client: retries, rate limits, timeouts, errors people can act on,
and credentials that never leave the Authorization header."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import httpx
import pytest

from opsroom.core import ConfigError
from opsroom.integrations.http import ApiClient, HttpSettings, IntegrationError, Secret, retry_after_seconds
from opsroom.runs.runners.options import Options

FAST = HttpSettings(timeout=1, retries=3, retry_backoff=0.001)


def client(handler, settings: HttpSettings = FAST) -> ApiClient:  # type: ignore[no-untyped-def]
    return ApiClient(
        "GitHub",
        "https://api.example",
        settings,
        headers={"Authorization": "Bearer s3cret"},
        transport=httpx.MockTransport(handler),
    )


async def test_5xx_then_success_is_retried() -> None:
    answers = iter([503, 500, 200])
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(next(answers), json={"ok": True})

    async with client(handler) as api:
        assert await api.json("GET", "/x", what="read things") == {"ok": True}
    assert seen == ["Bearer s3cret"] * 3


async def test_5xx_forever_gives_up_with_the_count() -> None:
    async with client(lambda r: httpx.Response(502, json={"message": "bad gateway"})) as api:
        with pytest.raises(IntegrationError) as err:
            await api.request("POST", "/x", what="dispatch workflows in acme/api")
    assert (
        str(err.value)
        == "GitHub failed to dispatch workflows in acme/api (502) after 4 attempt(s): bad gateway"
    )
    assert err.value.status == 502


def test_retry_after_as_http_date() -> None:
    when = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": when}), now=1_000_000.0) == 30.0
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"}), now=0.0) == 7.0
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "soon"}), now=0.0) is None


async def test_429_is_retried_after_the_wait_it_asks_for() -> None:
    answers = iter([429, 429, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        return httpx.Response(status, headers={"Retry-After": "0"} if status == 429 else {})

    async with client(handler) as api:
        assert (await api.request("GET", "/x", what="read")).status_code == 200


async def test_retry_after_beyond_the_limit_is_reported_not_slept() -> None:
    settings = HttpSettings(timeout=1, retries=3, retry_backoff=0.001, max_retry_after=5)
    async with client(lambda r: httpx.Response(429, headers={"Retry-After": "3600"}), settings) as api:
        started = time.monotonic()
        with pytest.raises(IntegrationError, match="asks to wait 3600s before we read; try again later"):
            await api.request("GET", "/x", what="read")
    assert time.monotonic() - started < 1


def test_github_primary_rate_limit_headers_count_as_retry_after() -> None:
    response = httpx.Response(403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1010"})
    assert retry_after_seconds(response, now=1000.0) == 10.0


@pytest.mark.parametrize(
    "status, expected",
    [
        (401, "GitHub rejected the credentials while trying to cancel workflow runs in acme/api (401)"),
        (403, "GitHub says the token cannot cancel workflow runs in acme/api (403): Must have admin rights"),
        (404, "GitHub found nothing to cancel workflow runs in acme/api (404)"),
        (409, "GitHub refused to cancel workflow runs in acme/api because of a conflict (409)"),
        (422, "GitHub refused to cancel workflow runs in acme/api (422): Must have admin rights"),
    ],
)
async def test_client_errors_are_not_retried_and_say_what_failed(status: int, expected: str) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, json={"message": "Must have admin rights"})

    async with client(handler) as api:
        with pytest.raises(IntegrationError) as err:
            await api.request("POST", "/x", what="cancel workflow runs in acme/api")
    assert str(err.value).startswith(expected)
    assert "s3cret" not in str(err.value)
    assert len(calls) == 1


async def test_read_timeout_is_retried_for_get_but_not_for_post() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1 or request.method == "POST":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200)

    async with client(handler) as api:
        await api.request("GET", "/x", what="read")
        with pytest.raises(
            IntegrationError, match="GitHub did not answer within 1s while trying to start a build"
        ):
            await api.request("POST", "/x", what="start a build")
    assert calls == ["GET", "GET", "POST"]  # the POST may have started something: not repeated


async def test_unreachable_server_names_the_host_not_the_token() -> None:
    settings = HttpSettings(timeout=1, retries=1, retry_backoff=0.001)
    async with ApiClient(
        "Jenkins", "http://127.0.0.1:9", settings, headers={"Authorization": "Basic c2VjcmV0"}
    ) as api:
        with pytest.raises(IntegrationError) as err:
            await api.request("GET", "/api/json", what="read jobs")
    assert str(err.value) == "could not reach Jenkins at 127.0.0.1:9 to read jobs: ConnectError"


def test_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TOKEN", "from-env\n")
    assert (
        Secret.from_options(Options("t", {"token_env": "X_TOKEN"}, ("token_env", "token_file"))).read()
        == "from-env"
    )
    path = tmp_path / "tok"
    path.write_text("from-file\n")
    assert (
        Secret.from_options(Options("t", {"token_file": str(path)}, ("token_env", "token_file"))).read()
        == "from-file"
    )


def test_missing_secret_says_which_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    secret = Secret.from_options(Options("t", {"token_env": "NOPE_TOKEN"}, ("token_env",)))
    with pytest.raises(IntegrationError, match="environment variable NOPE_TOKEN is not set"):
        secret.read()


@pytest.mark.parametrize(
    "raw, message",
    [
        ({}, "'token_env' is required"),
        ({"token_env": "A", "token_file": "/x"}, "are both set"),
        ({"token_env": "ghp_abc def"}, "must be an environment variable name"),
    ],
)
def test_bad_secret_options(raw: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Secret.from_options(Options("t", raw, ("token_env", "token_file")))
