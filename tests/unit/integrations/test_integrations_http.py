"""The shared vendor HTTP client: retries, rate limits, timeouts, errors people can act on,
and credentials that never leave the Authorization header."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import httpx
import pytest

from opsroom.core import ConfigError
from opsroom.integrations.http import (
    ApiClient,
    HttpSettings,
    IntegrationError,
    MayHaveActed,
    Secret,
    retry_after_seconds,
    vendor_detail,
)
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
            await api.request("GET", "/x", what="read workflow runs in acme/api")
    assert str(err.value) == "GitHub failed to read workflow runs in acme/api (502) after 4 attempt(s): bad gateway"
    assert err.value.status == 502
    assert not isinstance(err.value, MayHaveActed)


async def test_a_post_answered_5xx_is_sent_once_and_reported_as_maybe_done() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(502, text="<html>Bad Gateway</html>", headers={"content-type": "text/html"})

    async with client(handler) as api:
        with pytest.raises(MayHaveActed) as err:
            await api.request("POST", "/x", what="build deploy")
    assert calls == ["POST"]
    assert (
        str(err.value)
        == "GitHub failed to build deploy (502) after 1 attempt(s): Bad Gateway; it may have done it anyway"
    )


@pytest.mark.parametrize("error", [httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout])
async def test_a_post_whose_answer_is_lost_is_not_repeated(error: type[httpx.TransportError]) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise error("lost", request=request)

    async with client(handler) as api:
        with pytest.raises(MayHaveActed, match="may have done it anyway"):
            await api.request("POST", "/x", what="create a pipeline")
    assert calls == ["POST"]


async def test_a_post_marked_idempotent_and_refused_connections_are_retried() -> None:
    answers = iter([503, 200])
    refused = iter([True, False])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/refused" and next(refused):
            raise httpx.ConnectError("refused", request=request)
        if request.url.path == "/refused":
            return httpx.Response(201)
        return httpx.Response(next(answers))

    async with client(handler) as api:
        assert (await api.request("POST", "/keyed", what="x", idempotent=True)).status_code == 200
        assert (await api.request("POST", "/refused", what="x")).status_code == 201


async def test_a_rate_limited_post_is_retried_since_the_vendor_did_nothing() -> None:
    answers = iter([429, 201])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        return httpx.Response(status, headers={"Retry-After": "0"} if status == 429 else {})

    async with client(handler) as api:
        assert (await api.request("POST", "/x", what="create")).status_code == 201


@pytest.mark.parametrize(
    "body, headers, expected",
    [
        # Jira: https://developer.atlassian.com/cloud/jira/platform/rest/v3/intro/#status-codes
        (
            {
                "errorMessages": [],
                "errors": {"summary": "The summary is invalid because it contains newline characters."},
            },
            {},
            "summary: The summary is invalid because it contains newline characters.",
        ),
        (
            {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}},
            {},
            "Issue does not exist or you do not have permission to see it.",
        ),
        # ServiceNow: https://www.servicenow.com/docs/bundle/latest/page/integrate/inbound-rest/concept/c_TableAPI.html
        (
            {
                "error": {
                    "message": "Operation Failed",
                    "detail": "ACL Exception Insert Failed due to security constraints",
                },
                "status": "failure",
            },
            {},
            "Operation Failed: ACL Exception Insert Failed due to security constraints",
        ),
        # GitHub: https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api
        (
            {
                "message": "Validation Failed",
                "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}],
                "documentation_url": "https://docs.github.com/rest",
            },
            {},
            "Validation Failed: title missing_field",
        ),
        (
            {"message": "Validation Failed", "errors": [{"message": "Label name is too long"}]},
            {},
            "Validation Failed: Label name is too long",
        ),
        # GitLab: https://docs.gitlab.com/api/rest/troubleshooting/
        ({"message": {"base": ["Reference not found"]}}, {}, "base: Reference not found"),
        ({"error": "ref is missing"}, {}, "ref is missing"),
        # Jenkins answers HTML error pages.
        (
            "<html><head><title>Error 403 No valid crumb was included in the request</title></head>"
            "<body><h2>HTTP ERROR 403 No valid crumb was included in the request</h2></body></html>",
            {"content-type": "text/html;charset=utf-8"},
            "Error 403 No valid crumb was included in the request",
        ),
    ],
)
def test_vendor_error_bodies_become_one_readable_reason(body: object, headers: dict[str, str], expected: str) -> None:
    if isinstance(body, str):
        response = httpx.Response(400, text=body, headers=headers)
    else:
        response = httpx.Response(400, json=body)
    assert vendor_detail(response) == expected


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
        with pytest.raises(MayHaveActed, match="GitHub did not answer within 1s while trying to start a build"):
            await api.request("POST", "/x", what="start a build")
    assert calls == ["GET", "GET", "POST"]  # the POST may have started something: not repeated


async def test_unreachable_server_names_the_host_not_the_token() -> None:
    settings = HttpSettings(timeout=1, retries=1, retry_backoff=0.001)
    async with ApiClient("Jenkins", "http://127.0.0.1:9", settings, headers={"Authorization": "Basic c2VjcmV0"}) as api:
        with pytest.raises(IntegrationError) as err:
            await api.request("GET", "/api/json", what="read jobs")
    assert str(err.value) == "could not reach Jenkins at 127.0.0.1:9 to read jobs: ConnectError"


def test_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TOKEN", "from-env\n")
    assert Secret.from_options(Options("t", {"token_env": "X_TOKEN"}, ("token_env", "token_file"))).read() == "from-env"
    path = tmp_path / "tok"
    path.write_text("from-file\n")
    assert (
        Secret.from_options(Options("t", {"token_file": str(path)}, ("token_env", "token_file"))).read() == "from-file"
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
