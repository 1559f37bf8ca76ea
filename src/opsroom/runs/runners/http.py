"""The ``http`` runner: one HTTP request, its status checked, an excerpt of the answer shown.

Argument values are URL-quoted into the URL (so ``../admin?x=1`` stays one path segment) and the
host is fixed text in the catalog, never an argument. Header values may name environment
variables as ``${NAME}``; those are read when the run starts and are never shown: the output
holds the method, the URL without credentials, the status and the response excerpt only.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Collection, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from opsroom.core import ConfigError, OutputChunk, RunContext
from opsroom.runs.runners import templating
from opsroom.runs.runners.options import Options
from opsroom.runs.runners.output import excerpt
from opsroom.runs.runners.templating import Template, TemplateError

if TYPE_CHECKING:
    import httpx  # imported when a request is sent: most servers never send one

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_TIMEOUT = 30.0
DEFAULT_EXCERPT_CHARS = 2000
OPTIONS = ("method", "url", "headers", "json", "body", "expect_status", "timeout", "excerpt_chars", "verify")

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_SECRET_QUERY_NAME = re.compile(r"token|key|secret|pass|auth|sig|credential|session", re.IGNORECASE)

JsonTemplate = Any  # a JSON value whose strings are Templates


class HttpRunner:
    def __init__(
        self,
        method: str,
        url: Template,
        *,
        headers: Mapping[str, Template] | None = None,
        json_body: JsonTemplate = None,
        has_json: bool = False,
        body: Template | None = None,
        expect_status: frozenset[int] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        excerpt_chars: int = DEFAULT_EXCERPT_CHARS,
        verify: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = dict(headers or {})
        self.json_body = json_body
        self.has_json = has_json
        self.body = body
        self.expect_status = expect_status  # None: any 2xx
        self.timeout = timeout
        self.excerpt_chars = excerpt_chars
        self.verify = verify
        self.transport = transport  # tests inject httpx.MockTransport here

    @property
    def placeholders(self) -> frozenset[str]:
        templates = [self.url, *self.headers.values(), *_json_templates(self.json_body)]
        if self.body is not None:
            templates.append(self.body)
        names: set[str] = set()
        for template in templates:
            names |= template.arg_names
        return frozenset(names)

    def check_args(self, arg_names: Collection[str]) -> None:
        templating.check_names(self.placeholders, arg_names, runner="http")

    def render_url(self, args: Mapping[str, Any]) -> str:
        return self.url.render(args, quote=lambda value: quote(value, safe=""))

    def _expected(self, status: int) -> bool:
        if self.expect_status is None:
            return 200 <= status < 300
        return status in self.expect_status

    def _expected_text(self) -> str:
        if self.expect_status is None:
            return "2xx"
        return ", ".join(str(s) for s in sorted(self.expect_status))

    async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        try:
            url = self.render_url(ctx.args)
            shown = display_url(url)
            if ctx.dry_run:
                yield OutputChunk(f"dry run: would send {self.method} {shown}", exit_code=0)
                return
            headers = {name: t.render(ctx.args) for name, t in self.headers.items()}
            content = self.body.render(ctx.args).encode() if self.body is not None else None
            json_value = _render_json(self.json_body, ctx.args) if self.has_json else None
        except TemplateError as err:
            yield OutputChunk(f"cannot send request: {err}", "stderr", exit_code=1)
            return
        for name, value in headers.items():
            if any(c in value for c in "\r\n\0"):
                yield OutputChunk(
                    f"cannot send request: header {name} would contain a line break", "stderr", exit_code=1
                )
                return

        import httpx

        limit = self.excerpt_chars * 4 + 4  # enough bytes for excerpt_chars UTF-8 characters
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout,
                verify=self.verify,
                transport=self.transport,
                follow_redirects=False,
            ) as client:
                async with client.stream(
                    self.method,
                    url,
                    headers=headers,
                    content=content,
                    json=json_value if self.has_json else None,
                ) as response:
                    raw, complete = await _read_some(response, limit)
                    status, reason = response.status_code, response.reason_phrase
                    encoding = response.encoding or "utf-8"
        except httpx.TimeoutException as err:
            what = "could not connect" if isinstance(err, httpx.ConnectTimeout) else "no answer"
            yield OutputChunk(f"{self.method} {shown} failed: {what} within {self.timeout:g} s", "stderr", exit_code=1)
            return
        except httpx.ConnectError as err:
            yield OutputChunk(
                f"{self.method} {shown} failed: could not connect ({_reason(err)})", "stderr", exit_code=1
            )
            return
        except httpx.HTTPError as err:
            yield OutputChunk(
                f"{self.method} {shown} failed: {type(err).__name__} ({_reason(err)})", "stderr", exit_code=1
            )
            return

        yield OutputChunk(f"{self.method} {shown} -> {status} {reason}".rstrip())
        text, cut = excerpt(raw.decode(encoding, errors="replace"), self.excerpt_chars)
        for line in text.splitlines():
            yield OutputChunk(line)
        if cut or not complete:
            yield OutputChunk(f"[response truncated to the first {self.excerpt_chars:,} characters]")
        if self._expected(status):
            yield OutputChunk("", exit_code=0)
        else:
            yield OutputChunk(f"unexpected status {status} (expected {self._expected_text()})", "stderr", exit_code=1)


async def _read_some(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Read at most ``limit`` bytes of the body; a huge answer is not loaded into memory."""
    data = bytearray()
    async for piece in response.aiter_bytes():
        data += piece
        if len(data) > limit:
            return bytes(data[:limit]), False
    return bytes(data), True


def _reason(err: BaseException) -> str:
    """The most specific reason in the exception chain: "Connection refused" from the socket
    error underneath rather than "All connection attempts failed"."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno:
            return os.strerror(cause.errno)
        if isinstance(cause, ExceptionGroup) and cause.exceptions:
            cause = cause.exceptions[0]
            continue
        cause = cause.__cause__ or cause.__context__
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:200]


def display_url(url: str) -> str:
    """The URL as shown in chat: no user:password, and values of query parameters whose names
    look like credentials (token, api_key, sig…) replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = "&".join(_mask_query_item(item) for item in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _mask_query_item(item: str) -> str:
    name, sep, _value = item.partition("=")
    if sep and _SECRET_QUERY_NAME.search(name):
        return f"{name}=***"
    return item


def _parse_json(value: Any, where: str) -> JsonTemplate:
    if isinstance(value, str):
        return templating.parse(value, where=where)
    if isinstance(value, Mapping):
        return {str(k): _parse_json(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_parse_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise ConfigError(f"{where} holds a {type(value).__name__}, which is not JSON")


def _render_json(value: JsonTemplate, args: Mapping[str, Any]) -> Any:
    """A string that is exactly ``{name}`` becomes the typed value (an int stays a number);
    other strings are filled as text."""
    if isinstance(value, Template):
        single = value.single_arg
        if single is not None and single not in templating.BUILTINS:
            if single not in args:
                raise TemplateError(f"the template refers to {{{single}}}, which is not an argument of this command")
            return args[single]
        return value.render(args)
    if isinstance(value, dict):
        return {k: _render_json(v, args) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_json(v, args) for v in value]
    return value


def _json_templates(value: JsonTemplate) -> list[Template]:
    if isinstance(value, Template):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _json_templates(v)]
    if isinstance(value, list):
        return [t for v in value for t in _json_templates(v)]
    return []


def _check_url(url: Template, opts: Options) -> None:
    """The scheme and host must be fixed text, so no argument can point the request elsewhere."""
    head = url.parts[0] if url.parts and isinstance(url.parts[0], str) else ""
    if not re.match(r"(?i)https?://", head):
        raise opts.error("url", f"must start with http:// or https:// as fixed text, not {url.source!r}")
    rest = head.split("://", 1)[1]
    host_is_fixed = len(url.parts) == 1 or any(c in rest for c in "/?#")
    if not host_is_fixed or not urlsplit(head).hostname:
        raise opts.error("url", "must name its host as fixed text (an argument may not choose the host)")


def build(options: Mapping[str, Any], *, transport: httpx.AsyncBaseTransport | None = None) -> HttpRunner:
    """Factory registered as runner type ``http``."""
    opts = Options("http", options, OPTIONS)
    method = opts.string("method", "GET").upper()
    if method not in METHODS:
        raise opts.error("method", f"must be one of {', '.join(METHODS)}, not {method!r}")
    url = templating.parse(opts.string("url"), where="http runner: url")
    _check_url(url, opts)
    headers: dict[str, Template] = {}
    for name, value in opts.string_map("headers").items():
        if not _HEADER_NAME.fullmatch(name):
            raise opts.error("headers", f"has a bad header name {name!r}")
        headers[name] = templating.parse(value, where=f"http runner: headers.{name}", allow_env=True)
    has_json = "json" in options
    if has_json and opts.has("body"):
        raise opts.error("json", "and 'body' cannot both be set; use one")
    json_body = _parse_json(options["json"], "http runner: json") if has_json else None
    body = templating.parse(opts.string("body"), where="http runner: body") if opts.has("body") else None
    expect = options.get("expect_status")
    expect_status: frozenset[int] | None = None
    if expect is not None:
        items = expect if isinstance(expect, (list, tuple)) else [expect]
        if not items or any(isinstance(s, bool) or not isinstance(s, int) or not 100 <= s <= 599 for s in items):
            raise opts.error("expect_status", f"must be a status code or a list of them, not {expect!r}")
        expect_status = frozenset(items)
    return HttpRunner(
        method,
        url,
        headers=headers,
        json_body=json_body,
        has_json=has_json,
        body=body,
        expect_status=expect_status,
        timeout=opts.number("timeout", DEFAULT_TIMEOUT, minimum=0.001),
        excerpt_chars=opts.integer("excerpt_chars", DEFAULT_EXCERPT_CHARS),
        verify=opts.boolean("verify", True),
        transport=transport,
    )
