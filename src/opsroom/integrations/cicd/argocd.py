"""Argo CD: sync an application (optionally to a revision) or roll it back to a history id,
then wait until the operation has finished and the application is healthy (and, for a sync,
in sync). Terminates the operation when opsroom gives up on the run.

Which operation we are waiting for: the sync/rollback answer is the Application with the
*previous* ``status.operationState`` still in it, so we remember that one's ``startedAt`` and
wait for an operation state that started later and finished, with no operation pending.
A sync also carries our correlation id as a sync ``info`` (``argocd app sync --info``), kept
on the operation, so the operation we follow is provably ours.

Starting once: the sync/rollback request is never repeated. When its answer is lost (a
proxy's 502 after Argo CD accepted it) we read the application: an operation pending or
started since our snapshot (for a sync: with our info) is the one we asked for.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any

import httpx

from opsroom.core import OutputChunk, RunContext
from opsroom.integrations.http import (
    HTTP_OPTIONS,
    SECRET_OPTIONS,
    ApiClient,
    HttpSettings,
    IntegrationError,
    Secret,
    base_url_option,
    require_mapping,
)
from opsroom.integrations.once import correlation_id, start_once
from opsroom.integrations.remote import cancel_remote, poll_sleep
from opsroom.integrations.templating import check_placeholders, value_option
from opsroom.runs.runners.options import Options

VENDOR = "Argo CD"
TYPE = "argocd"
ACTIONS = ("sync", "rollback")
KNOWN = (
    "server",
    "app",
    "action",
    "revision",
    "history_id",
    "prune",
    "app_namespace",
    "wait",
    "poll_interval",
    "find_timeout",
    *SECRET_OPTIONS,
    *HTTP_OPTIONS,
)

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # Kubernetes object name (DNS-1123)
_REVISION = re.compile(r"^(?!.*\.\.)(?!-)[A-Za-z0-9._/+-]{1,200}$")
#: The sync info that carries our correlation id.
INFO_NAME = "opsroom-run"
OPERATION_DONE = {"Succeeded", "Failed", "Error"}
#: Health states after which waiting longer will not help (Argo CD's health assessment).
UNHEALTHY = {"Degraded"}


class ArgoCDRunner:
    def __init__(self, options: Mapping[str, Any], *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        opts = Options(TYPE, options, KNOWN)
        self.server = base_url_option(opts, "server")
        self.app = value_option(opts, "app", required=True)
        self.action = opts.string("action", "sync")
        if self.action not in ACTIONS:
            raise opts.error("action", f"must be one of {', '.join(ACTIONS)}, not {self.action!r}")
        self.revision = value_option(opts, "revision")
        self.history_id = value_option(opts, "history_id", required=self.action == "rollback")
        if self.action == "sync" and opts.has("history_id"):
            raise opts.error("history_id", "only applies to action: rollback")
        if self.action == "rollback" and opts.has("revision"):
            raise opts.error("revision", "only applies to action: sync (a rollback names a history id)")
        self.prune = opts.boolean("prune", False)
        self.app_namespace = value_option(opts, "app_namespace")
        self.wait = opts.boolean("wait", True)
        self.poll_interval = opts.number("poll_interval", 5.0, minimum=0.01)
        self.find_timeout = opts.number("find_timeout", 60.0, minimum=0.01)
        self.secret = Secret.from_options(opts)
        self.http = HttpSettings.from_options(opts)
        self.transport = transport

    def _request(self, ctx: RunContext) -> tuple[str, dict[str, Any], str]:
        app = self.app.text(ctx.args) or ""
        if not _NAME.match(app):
            raise IntegrationError(f"{app!r} is not an Argo CD application name")
        body: dict[str, Any] = {"prune": self.prune}
        namespace = self.app_namespace.text(ctx.args)
        if namespace:
            if not _NAME.match(namespace):
                raise IntegrationError(f"{namespace!r} is not a namespace name")
            body["appNamespace"] = namespace
        if self.action == "sync":
            revision = self.revision.text(ctx.args)
            if revision:
                if not _REVISION.match(revision):
                    raise IntegrationError(f"{revision!r} is not a revision (commit, branch, tag or chart version)")
                body["revision"] = revision
            what = f"sync {app}" + (f" to {body['revision']}" if "revision" in body else "")
        else:
            raw = self.history_id.render(ctx.args)
            try:
                history = int(raw)
            except (TypeError, ValueError):
                raise IntegrationError(f"{raw!r} is not a history id (a whole number)") from None
            if history < 0:
                raise IntegrationError(f"{history} is not a history id")
            body["id"] = history
            what = f"roll {app} back to history id {history}"
        return app, body, what

    def check_args(self, arg_names: Collection[str]) -> None:
        """Called by the catalog loader: every ``{placeholder}`` must be an argument."""
        check_placeholders(TYPE, arg_names, self.app, self.revision, self.history_id, self.app_namespace)

    async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        app, body, what = self._request(ctx)
        if ctx.dry_run:
            yield OutputChunk(text=f"dry run: would {what}" + (" with prune" if self.prune else ""), exit_code=0)
            return
        path = f"/api/v1/applications/{app}"
        params = {"appNamespace": body["appNamespace"]} if "appNamespace" in body else {}
        app_url = f"{self.server}/applications/{body.get('appNamespace', 'argocd')}/{app}"
        headers = {"Authorization": f"Bearer {self.secret.read()}"}
        async with ApiClient(VENDOR, self.server, self.http, headers=headers, transport=self.transport) as api:
            started = False
            finished = False
            try:
                yield OutputChunk(text=what, stream="progress", result=app_url)
                marker = correlation_id(ctx) if self.action == "sync" else ""
                if marker:
                    body = {**body, "infos": [{"name": INFO_NAME, "value": marker}]}
                snapshot = require_mapping(
                    await api.json("GET", path, params=params, what=f"read application {app}"),
                    VENDOR,
                    "read an application",
                )
                before = _operation(snapshot).get("startedAt")

                async def request() -> bool:
                    await api.json("POST", f"{path}/{self.action}", json=body, what=f"{self.action} application {app}")
                    return True

                async def find() -> bool | None:
                    current = require_mapping(
                        await api.json("GET", path, params=params, what=f"read application {app}"),
                        VENDOR,
                        "read an application",
                    )
                    pending = current.get("operation")
                    if isinstance(pending, Mapping) and _carries(pending, marker):
                        return True
                    op = _operation(current)
                    if op.get("startedAt") != before and _carries(op.get("operation"), marker):
                        return True
                    return None

                found = await start_once(
                    request, find, timeout=self.find_timeout, interval=self.poll_interval, where=app_url
                )
                started = True
                if found.recovered:
                    yield OutputChunk(text=f"{found.recovered}; found the operation it started", stream="progress")
                if not self.wait:
                    finished = True
                    yield OutputChunk(text=f"{self.action} requested: {app_url}", exit_code=0, result=app_url)
                    return
                last = ""
                while True:
                    current = require_mapping(
                        await api.json("GET", path, params=params, what=f"read application {app}"),
                        VENDOR,
                        "read an application",
                    )
                    op = _operation(current)
                    raw_status = current.get("status")
                    status: Mapping[str, Any] = raw_status if isinstance(raw_status, Mapping) else {}
                    sync = _field(status, "sync", "status")
                    health = _field(status, "health", "status")
                    ours = (
                        op.get("startedAt") != before
                        and "operation" not in current
                        and _carries(op.get("operation"), marker)
                    )
                    phase = str(op.get("phase") or "Pending") if ours else "Pending"
                    line = f"{self.action} {phase} · sync {sync} · health {health}"
                    if line != last:
                        yield OutputChunk(text=line, stream="progress", result=app_url)
                        last = line
                    if ours and phase in OPERATION_DONE:
                        finished = True  # nothing left to terminate; now we only watch health
                        if phase != "Succeeded":
                            message = str(op.get("message") or "no message")
                            yield OutputChunk(
                                text=f"{self.action} {phase.lower()}: {message}", exit_code=1, result=app_url
                            )
                            return
                        if health in UNHEALTHY:
                            yield OutputChunk(
                                text=f"{app} is {health} after the {self.action}", exit_code=1, result=app_url
                            )
                            return
                        # A rollback leaves the app OutOfSync with git on purpose: only health counts.
                        if health == "Healthy" and (self.action == "rollback" or sync == "Synced"):
                            revision = _field(op, "syncResult", "revision")
                            yield OutputChunk(
                                text=f"{app} is Healthy and {sync} at {revision}: {app_url}",
                                exit_code=0,
                                result=app_url,
                            )
                            return
                    await poll_sleep(self.poll_interval)
            except (asyncio.CancelledError, GeneratorExit):
                if started and not finished:
                    await cancel_remote(
                        f"Argo CD operation on {app}",
                        lambda: api.request(
                            "DELETE",
                            f"{path}/operation",
                            params=params,
                            what=f"terminate operations on {app}",
                            accept=(400, 404),
                        ),
                    )
                raise


def _carries(operation: Any, marker: str) -> bool:
    """Whether an operation is the one with our correlation info (any, without a marker)."""
    if not marker:
        return True
    infos = operation.get("info") if isinstance(operation, Mapping) else None
    return any(isinstance(i, Mapping) and i.get("value") == marker for i in infos or [])


def _operation(app: Mapping[str, Any]) -> Mapping[str, Any]:
    status = app.get("status")
    op = status.get("operationState") if isinstance(status, Mapping) else None
    return op if isinstance(op, Mapping) else {}


def _field(obj: Mapping[str, Any], outer: str, inner: str) -> str:
    value = obj.get(outer)
    return str(value.get(inner) or "Unknown") if isinstance(value, Mapping) else "Unknown"


def factory(options: Mapping[str, Any]) -> ArgoCDRunner:
    return ArgoCDRunner(options)
