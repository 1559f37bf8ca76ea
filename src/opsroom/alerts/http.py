"""The webhook endpoints monitoring systems POST to.

Order of checks, cheapest first, and nothing is stored unless all pass: a known source
(404) → declared size (413) → bearer token (401) → body read with a hard cap (413) → HMAC
signature over the raw body (401) → a timestamped signature seen before (409) → JSON with
no NaN, huge numbers or deep nesting (400) → number of alerts (413) → shape (400). The
common Alertmanager body takes ``fastpath`` (one typed decode, the same answers); anything
it does not decide goes through those last three steps as written.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
from typing import Any, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from opsroom.alerts import fastpath
from opsroom.alerts.context import AlertContext
from opsroom.alerts.ingest import prepare
from opsroom.alerts.intake import IntakeError, count_alerts, parse
from opsroom.alerts.model import Alert
from opsroom.alerts.service import AlertService
from opsroom.config.alerts import GenericMapping, SourceConfig
from opsroom.errors import Refusal
from opsroom.web.intake import BadBody, ReplayGuard, finite_timestamp, loads

log = logging.getLogger(__name__)
MAX_SKEW = 300.0


class _TooLarge(Refusal):
    """The body is over the intake limit (413)."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _too_many(claimed: int, limit: int) -> JSONResponse:
    return _error(413, f"{claimed} alerts in one request; at most {limit} are accepted")


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, or ``_TooLarge`` as soon as it passes ``limit`` bytes (never buffered whole)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _secret(env: Mapping[str, str], name: str, source: str) -> str:
    value = env.get(name, "")
    if not value:
        log.error("alert source %s: environment variable %s is not set; refusing its webhooks", source, name)
    return value


def _bearer_ok(request: Request, source: SourceConfig, name: str, env: Mapping[str, str]) -> bool:
    expected = _secret(env, source.token_env, name)
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if not expected or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def _signature_ok(
    request: Request, body: bytes, source: SourceConfig, name: str, env: Mapping[str, str], now: float
) -> bool:
    secret = _secret(env, source.hmac_secret_env, name)
    given = request.headers.get(source.signature_header, "").strip()
    if not secret or not given:
        return False
    if given.lower().startswith("sha256="):
        given = given[7:]
    signed = body
    if source.timestamp_header:
        stamp = request.headers.get(source.timestamp_header, "").strip()
        seconds = finite_timestamp(stamp)  # "nan" compares false with everything: refuse it
        if seconds is None or abs(now - seconds) > MAX_SKEW:
            return False
        signed = stamp.encode() + b":" + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.lower().encode(), expected.encode())


def _find_source(service: AlertService, kind: str, name: str | None) -> tuple[str, SourceConfig] | None:
    sources = service.config.sources
    if name is not None:
        found = sources.get(name)
        return (name, found) if found is not None and found.type == kind else None
    if kind in sources and sources[kind].type == kind:
        return kind, sources[kind]
    of_kind = [(n, s) for n, s in sources.items() if s.type == kind]
    return of_kind[0] if len(of_kind) == 1 else None


def _decoded(body: bytes, *, ctx: AlertContext, source: str, max_alerts: int) -> list[Alert] | None:
    """The fast path's decode with secrets masked and groups planned (``ingest.prepare``), on
    the parse thread: the alert thread stores the batch without scanning or planning it again."""
    batch = fastpath.alertmanager(body, source=source, max_alerts=max_alerts)
    return None if batch is None else prepare(ctx, batch)


def _parsed(kind: str, payload: Any, *, ctx: AlertContext, source: str, mapping: GenericMapping | None) -> list[Alert]:
    """``parse``, then ``ingest.prepare``, on the parse thread (as ``_decoded``)."""
    return prepare(ctx, parse(kind, payload, source=source, mapping=mapping))


def routes(service: AlertService, *, env: Mapping[str, str] | None = None) -> list[BaseRoute]:
    """``/hooks/alertmanager``, ``/hooks/grafana`` (the one source of that type, or the source
    named like the type), ``/hooks/{type}/{source}`` and ``/hooks/generic/{source}``."""
    environ = env if env is not None else os.environ
    cfg = service.config
    replays = ReplayGuard(MAX_SKEW)

    async def handle(request: Request, kind: str, name: str | None) -> JSONResponse:
        found = _find_source(service, kind, name)
        if found is None:
            return _error(404, f"no {kind} alert source {'named ' + repr(name) + ' ' if name else ''}is configured")
        source_name, source = found
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cfg.max_body_bytes:
            return _error(413, f"the body is larger than {cfg.max_body_bytes} bytes")
        if source.token_env and not _bearer_ok(request, source, source_name, environ):
            return _error(401, "missing or wrong bearer token")
        try:
            body = await read_capped(request, cfg.max_body_bytes)
        except _TooLarge:
            return _error(413, f"the body is larger than {cfg.max_body_bytes} bytes")
        if source.hmac_secret_env and not _signature_ok(
            request, body, source, source_name, environ, service.clock().timestamp()
        ):
            return _error(401, f"missing or wrong HMAC-SHA256 signature in {source.signature_header}")
        if (
            source.hmac_secret_env
            and source.timestamp_header
            and not replays.first_time(
                f"{source_name}:{request.headers.get(source.signature_header, '').strip().lower()}"
            )
        ):  # a timestamped signature is good for MAX_SKEW seconds: a second use is a replay
            return _error(409, "this signed request was already received (replay refused)")
        # Parsing a big batch is milliseconds of CPU: done on the parse thread, not the loop.
        if kind == "alertmanager":
            # The common body in one decode on the parse thread, which hands the batch straight
            # to the alert thread; None (nothing stored) leaves the body to the general path.
            decode = functools.partial(
                _decoded, body, ctx=service.ctx, source=source_name, max_alerts=cfg.max_alerts_per_request
            )
            try:
                stored = await service.ingest_decoded(source_name, decode)
            except fastpath.TooManyAlerts as exc:
                return _too_many(exc.claimed, cfg.max_alerts_per_request)
            if stored is not None:
                return JSONResponse({"status": "ok", **stored.as_dict()})
        try:
            payload: Any = await service.ctx.offload_parse(loads, body)
        except BadBody as exc:
            return _error(400, str(exc))
        claimed = count_alerts(payload, source.mapping if kind == "generic" else None)
        if claimed > cfg.max_alerts_per_request:
            return _too_many(claimed, cfg.max_alerts_per_request)
        try:
            batch: list[Alert] = await service.ctx.offload_parse(
                _parsed, kind, payload, ctx=service.ctx, source=source_name, mapping=source.mapping
            )
        except IntakeError as exc:
            return _error(400, str(exc))
        except RecursionError:
            return _error(400, "the payload is nested too deeply")
        result = await service.ingest(source_name, batch)
        return JSONResponse({"status": "ok", **result.as_dict()})

    def endpoint(kind: str, named: bool) -> Any:
        async def _endpoint(request: Request) -> JSONResponse:
            return await handle(request, kind, request.path_params["source"] if named else None)

        return _endpoint

    return [
        Route("/hooks/alertmanager", endpoint("alertmanager", False), methods=["POST"]),
        Route("/hooks/alertmanager/{source}", endpoint("alertmanager", True), methods=["POST"]),
        Route("/hooks/grafana", endpoint("grafana", False), methods=["POST"]),
        Route("/hooks/grafana/{source}", endpoint("grafana", True), methods=["POST"]),
        Route("/hooks/generic/{source}", endpoint("generic", True), methods=["POST"]),
    ]
