"""One HTTP client for every provider that speaks a vendor's REST API.

Each provider would otherwise grow its own copy of the same concerns, each a little wrong:
where the token comes from (an environment variable or a file named in the options, read at
run time so rotation needs no restart, and never put in a message or a log line), timeouts,
retries with back-off on 5xx and connection errors, 429 / secondary rate limits honouring
``Retry-After``, and errors a person in chat can act on, such as
"GitHub says the token cannot dispatch workflows in acme/api (403)".

Retries: 429 / rate limits (the vendor refused before acting) and failures to connect
(nothing was sent) are retried for every method. A 5xx, a timeout or a connection lost *after*
the request went out are retried only for requests that are safe to repeat (GET, HEAD, PUT,
DELETE, OPTIONS, or a call marked ``idempotent=True``, e.g. one carrying a vendor idempotency
key). For anything else the vendor may already have acted — a proxy answering 502 after Jenkins
queued the build — so the client raises ``MayHaveActed`` and the caller looks for what it
started instead of starting it twice (see ``opsroom.integrations.once``).
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from opsroom.errors import IntegrationError as IntegrationError  # providers and plugins import it from here too
from opsroom.runs.runners.options import Options

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

#: Option keys every HTTP provider accepts (besides its own); see ``HttpSettings.from_options``.
HTTP_OPTIONS = ("timeout", "retries", "retry_backoff", "max_retry_after", "verify_tls", "ca_file")
#: Option keys for a secret (see ``Secret.from_options``).
SECRET_OPTIONS = ("token_env", "token_file")


class MayHaveActed(IntegrationError):
    """A request that is not safe to repeat was sent, and the answer was a 5xx or never came:
    the vendor may or may not have acted on it. Never retried; the caller looks it up."""


@dataclass(frozen=True)
class Secret:
    """Where a credential lives: an environment variable or a file. Only the *name* is kept;
    the value is read when needed and never stored on the object, so it cannot end up in a
    repr, a log line or an error."""

    env: str = ""
    file: str = ""
    label: str = "token"

    @classmethod
    def from_options(cls, opts: Options, *, prefix: str = "token") -> Secret:
        """The secret named by ``{prefix}_env`` or ``{prefix}_file``; one of them is required."""
        secret = cls.optional(opts, prefix=prefix)
        if secret is None:
            raise opts.error(
                f"{prefix}_env",
                f"is required (or '{prefix}_file'): the name of the environment variable holding the {prefix}",
            )
        return secret

    @classmethod
    def optional(cls, opts: Options, *, prefix: str = "token") -> Secret | None:
        env_key, file_key = f"{prefix}_env", f"{prefix}_file"
        env = opts.string(env_key) if opts.has(env_key) else ""
        file = opts.string(file_key) if opts.has(file_key) else ""
        if env and file:
            raise opts.error(env_key, f"and {file_key!r} are both set; use one")
        if not env and not file:
            return None
        if env and not _ENV_NAME.match(env):
            raise opts.error(env_key, f"must be an environment variable name, not {env!r}")
        return cls(env=env, file=file, label=prefix)

    def read(self) -> str:
        if self.env:
            value = os.environ.get(self.env, "")
            if not value:
                raise IntegrationError(f"the {self.label} is missing: environment variable {self.env} is not set")
            return value.strip()
        try:
            value = Path(self.file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise IntegrationError(f"cannot read the {self.label} file {self.file}: {exc.strerror}") from None
        if not value:
            raise IntegrationError(f"the {self.label} file {self.file} is empty")
        return value


@dataclass(frozen=True)
class HttpSettings:
    timeout: float = 30.0
    retries: int = 4  # attempts after the first
    retry_backoff: float = 0.5  # first back-off; doubles each time, with jitter
    max_backoff: float = 30.0
    max_retry_after: float = 120.0  # longer Retry-After than this: give up and say so
    verify: bool | str = True

    @classmethod
    def from_options(cls, opts: Options) -> HttpSettings:
        verify: bool | str = opts.boolean("verify_tls", True)
        if opts.has("ca_file"):
            verify = opts.string("ca_file")
        return cls(
            timeout=opts.number("timeout", 30.0, minimum=0.01),
            retries=opts.integer("retries", 4, minimum=0),
            retry_backoff=opts.number("retry_backoff", 0.5),
            max_retry_after=opts.number("max_retry_after", 120.0),
            verify=verify,
        )


def base_url_option(opts: Options, key: str, default: str | None = None) -> str:
    """A vendor base URL: http(s) only, no trailing slash."""
    url = opts.string(key, default)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise opts.error(key, f"must be an http:// or https:// URL, not {url!r}")
    return url.rstrip("/")


def retry_after_seconds(response: httpx.Response, *, now: float | None = None) -> float | None:
    """How long the server asked us to wait: ``Retry-After`` (seconds or an HTTP date), or
    GitHub-style ``x-ratelimit-reset`` (epoch seconds) when ``x-ratelimit-remaining`` is 0."""
    now = time.time() if now is None else now
    value = response.headers.get("retry-after")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - now)
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset", "")
        if reset.isdigit():
            return max(0.0, float(reset) - now)
    return None


def _is_rate_limited(response: httpx.Response) -> bool:
    if response.status_code == 429:
        return True
    # GitHub answers primary and secondary rate limits with 403 plus these headers.
    return response.status_code == 403 and (
        "retry-after" in response.headers or response.headers.get("x-ratelimit-remaining") == "0"
    )


def vendor_detail(response: httpx.Response) -> str:
    """The vendor's own explanation in one line, from whichever shape its error body has:

    - Jira: ``{"errorMessages": [...], "errors": {"field": "why"}}``
    - ServiceNow: ``{"error": {"message": ..., "detail": ...}, "status": "failure"}``
    - GitHub: ``{"message": ..., "errors": [{"field", "code"} | {"message"} | "text"]}``
    - GitLab: ``{"message": "..." | {"field": [...]}}`` or ``{"error": "..."}``
    - Argo CD (gRPC gateway): ``{"error": ..., "message": ..., "code": n}``
    - Jenkins: an HTML page whose ``<title>`` carries the reason.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        parts = _json_reasons(body)
    elif "html" in response.headers.get("content-type", "") or response.text.lstrip().startswith("<"):
        parts = [_html_title(response.text)]
    else:
        parts = [response.text]
    text = " ".join(": ".join(dict.fromkeys(p for p in parts if p)).split())
    return text[:300] + ("…" if len(text) > 300 else "")


def _flat(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(s for s in map(_flat, value) if s)
    if isinstance(value, Mapping):
        if isinstance(value.get("message"), str):  # GitHub {"message": ...} / nested errors
            return str(value["message"])
        if "field" in value or "code" in value:  # GitHub {"resource", "field", "code"}
            return " ".join(str(value[k]) for k in ("field", "code") if value.get(k))
        return "; ".join(f"{k}: {_flat(v)}" for k, v in value.items() if _flat(v))
    return "" if value is None else str(value)


def _json_reasons(body: Mapping[str, Any]) -> list[str]:
    error = body.get("error")
    if isinstance(error, Mapping):  # ServiceNow
        return [_flat(error.get("message")), _flat(error.get("detail"))]
    if "errorMessages" in body or ("errors" in body and isinstance(body.get("errors"), Mapping)):
        return [_flat(body.get("errorMessages")), _flat(body.get("errors"))]  # Jira
    head = next(
        (_flat(body[k]) for k in ("message", "error", "error_description", "errorMessage") if body.get(k)),
        "",
    )
    return [head, _flat(body.get("errors"))]


class _TitleParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.text: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._inside = tag == "title" and not self.title

    def handle_endtag(self, tag: str) -> None:
        self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.title += data
        elif data.strip():
            self.text.append(data.strip())


def _html_title(page: str) -> str:
    parser = _TitleParser()
    parser.feed(page[:20_000])
    return parser.title.strip() or " ".join(parser.text)


def describe_failure(vendor: str, what: str, response: httpx.Response, *, attempts: int = 1) -> str:
    return describe_status(
        vendor,
        what,
        response.status_code,
        vendor_detail(response),
        attempts=attempts,
        rate_limited=_is_rate_limited(response),
    )


def describe_status(
    vendor: str,
    what: str,
    status: int,
    detail: str,
    *,
    attempts: int = 1,
    rate_limited: bool = False,
    who: str = "the token",
) -> str:
    """The one-line error for a failed call: ``who`` names the credential ("the token",
    "the service account")."""
    tail = f": {detail}" if detail else ""
    if status == 401:
        return f"{vendor} rejected the credentials while trying to {what} (401): {who} is missing, expired or wrong"
    if status == 429 or rate_limited:
        return f"{vendor} is rate-limiting us; gave up trying to {what} after {attempts} attempt(s) ({status})"
    if status == 403:
        return f"{vendor} says {who} cannot {what} (403){tail}"
    if status == 404:
        return f"{vendor} found nothing to {what} (404): check the names, and that {who} may see them{tail}"
    if status == 409:
        return f"{vendor} refused to {what} because of a conflict (409){tail}"
    if status >= 500:
        return f"{vendor} failed to {what} ({status}) after {attempts} attempt(s){tail}"
    return f"{vendor} refused to {what} ({status}){tail}"


class ApiClient:
    """An ``httpx.AsyncClient`` for one vendor, used as ``async with ApiClient(...) as api``.

    ``request`` returns the response on 2xx (and on any status listed in ``accept``), and
    raises IntegrationError with a clear message otherwise, after retrying what is transient.
    """

    def __init__(
        self,
        vendor: str,
        base_url: str,
        settings: HttpSettings,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"User-Agent": "opsroom", **(headers or {})},
            auth=auth,
            timeout=settings.timeout,
            verify=settings.verify,
            transport=transport,
            follow_redirects=False,
        )

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        accept: tuple[int, ...] = (),
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """``what`` completes "GitHub says the token cannot …" (e.g. "dispatch workflows in
        acme/api"). ``accept`` lists non-2xx statuses the caller handles itself."""
        method = method.upper()
        repeatable = method in _SAFE_TO_REPEAT if idempotent is None else idempotent
        attempt = 0
        while True:
            attempt += 1
            last = attempt > self.settings.retries
            try:
                response = await self._client.request(method, url, **kwargs)
            except httpx.TimeoutException as exc:
                sent = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
                if sent and not repeatable:
                    raise MayHaveActed(
                        f"{self.vendor} did not answer within {self.settings.timeout:g}s while trying to "
                        f"{what}; it may have done it anyway"
                    ) from None
                if last:
                    raise IntegrationError(
                        f"{self.vendor} did not answer within {self.settings.timeout:g}s while trying to {what}"
                    ) from None
                await asyncio.sleep(self._backoff(attempt))
                continue
            except httpx.TransportError as exc:
                # Refused before connecting: nothing was sent, safe to repeat. A connection lost
                # after sending (reset, half an answer) may have been acted on.
                if not isinstance(exc, httpx.ConnectError) and not repeatable:
                    raise MayHaveActed(
                        f"lost the connection to {self.vendor} while trying to {what} "
                        f"({type(exc).__name__}); it may have done it anyway"
                    ) from None
                if last:
                    host = urlsplit(self.base_url).netloc
                    raise IntegrationError(
                        f"could not reach {self.vendor} at {host} to {what}: {type(exc).__name__}"
                    ) from None
                await asyncio.sleep(self._backoff(attempt))
                continue
            status = response.status_code
            if 200 <= status < 300 or status in accept:
                return response
            limited = _is_rate_limited(response)
            if status >= 500 and not limited and not repeatable:
                raise MayHaveActed(
                    describe_failure(self.vendor, what, response, attempts=attempt) + "; it may have done it anyway",
                    status=status,
                )
            if limited or status >= 500:
                wait = retry_after_seconds(response) if limited else None
                if wait is not None and wait > self.settings.max_retry_after:
                    raise IntegrationError(
                        f"{self.vendor} is rate-limiting us and asks to wait {wait:.0f}s before we "
                        f"{what}; try again later ({status})",
                        status=status,
                    )
                if not last:
                    await asyncio.sleep(wait if wait is not None else self._backoff(attempt))
                    continue
            raise IntegrationError(describe_failure(self.vendor, what, response, attempts=attempt), status=status)

    async def json(self, method: str, url: str, *, what: str, **kwargs: Any) -> Any:
        response = await self.request(method, url, what=what, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise IntegrationError(
                f"{self.vendor} answered with something other than JSON while trying to {what}"
            ) from None

    def _backoff(self, attempt: int) -> float:
        base = min(self.settings.max_backoff, self.settings.retry_backoff * 2 ** (attempt - 1))
        return float(base * (0.5 + random.random() / 2))  # noqa: S311 — jitter, not security


def require_mapping(value: Any, vendor: str, what: str) -> Mapping[str, Any]:
    """The decoded JSON must be an object; anything else means we are not talking to the
    API we think we are."""
    if not isinstance(value, Mapping):
        raise IntegrationError(f"{vendor} answered with an unexpected payload while trying to {what}")
    return value
