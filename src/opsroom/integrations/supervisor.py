"""Runner ``supervisor``: start, stop, restart or show a program under supervisord, through
its XML-RPC interface (``/RPC2``).

The XML-RPC calls go over httpx so they are async, time out, and are cancelled with the run;
``xmlrpc.client`` only encodes and decodes the payloads. The program name is checked against
supervisord's own naming before it is sent, and a name supervisord does not know is reported
as such rather than as a raw fault.
"""

from __future__ import annotations

import os
import re
import xmlrpc.client  # noqa: S411  (talks only to a supervisord named in opsroom.yaml)
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from opsroom.config.integrations import SupervisorEndpoint, SupervisorSettings
from opsroom.core import ConfigError, OutputChunk, RunContext
from opsroom.errors import IntegrationError
from opsroom.runs.runners.templating import Template, parse

ACTIONS = ("start", "stop", "restart", "status")
_OPTIONS = frozenset({"url", "endpoint", "action", "program"})
# supervisord program names, optionally "group:name"; no wildcards, no spaces.
_PROGRAM = re.compile(r"^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$")

# Fault codes from supervisor.xmlrpc.Faults.
BAD_NAME = 10
SPAWN_ERROR = 50
ABNORMAL_TERMINATION = 40
ALREADY_STARTED = 60
NOT_RUNNING = 70


class SupervisorError(IntegrationError):
    """supervisord could not be reached or refused the request."""


class SupervisorClient:
    """A minimal async XML-RPC client for one supervisord."""

    def __init__(self, endpoint: SupervisorEndpoint) -> None:
        self.endpoint = endpoint

    def _auth(self) -> httpx.BasicAuth | None:
        if not self.endpoint.username_env:
            return None
        user = os.environ.get(self.endpoint.username_env)
        password = os.environ.get(self.endpoint.password_env, "") if self.endpoint.password_env else ""
        if user is None:
            raise SupervisorError(f"environment variable {self.endpoint.username_env} is not set")
        return httpx.BasicAuth(user, password)

    async def call(self, method: str, *params: Any) -> Any:
        body = xmlrpc.client.dumps(params, method, allow_none=False)
        try:
            async with httpx.AsyncClient(timeout=self.endpoint.timeout, auth=self._auth()) as client:
                response = await client.post(
                    self.endpoint.url, content=body.encode(), headers={"Content-Type": "text/xml"}
                )
        except httpx.HTTPError as exc:
            raise SupervisorError(f"cannot reach supervisord at {self.endpoint.url}: {type(exc).__name__}") from None
        if response.status_code == 401:
            raise SupervisorError("supervisord refused the credentials (check username_env/password_env)")
        if response.status_code != 200:
            raise SupervisorError(f"supervisord answered HTTP {response.status_code} at {self.endpoint.url}")
        try:
            result, _ = xmlrpc.client.loads(response.content)  # noqa: S317  (trusted, configured server)
        except xmlrpc.client.Fault:
            raise
        except Exception as exc:  # an HTML error page, a proxy: say so rather than dump XML
            raise SupervisorError(f"{self.endpoint.url} did not answer XML-RPC: {type(exc).__name__}") from None
        return result[0]


class SupervisorRunner:
    def __init__(self, endpoint: SupervisorEndpoint, action: Template, program: Template) -> None:
        self.client = SupervisorClient(endpoint)
        self.action = action
        self.program = program

    async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        action = self.action.render(ctx.args)
        program = self.program.render(ctx.args)
        if action not in ACTIONS:
            raise SupervisorError(f"supervisor action must be one of {', '.join(ACTIONS)}, not {action!r}")
        if not _PROGRAM.match(program):
            raise SupervisorError(f"{program!r} is not a supervisord program name")
        before = await self._info(program)
        yield OutputChunk(_describe(before), stream="progress")
        if action == "status" or ctx.dry_run:
            if ctx.dry_run and action != "status":
                yield OutputChunk(f"dry run: would {action} {program}", stream="progress")
            yield OutputChunk(_describe(before) + "\n", stream="stdout")
            yield OutputChunk(exit_code=0, result=_describe(before))
            return
        try:
            if action in ("stop", "restart"):
                await self._stop(program)
            if action in ("start", "restart"):
                yield OutputChunk(f"starting {program}", stream="progress")
                await self._start(program)
        except xmlrpc.client.Fault as fault:
            after = await self._info(program)
            message = f"{action} {program} failed: {_fault_text(fault, program)}; now {after['statename']}"
            tail = await self._stderr_tail(program)
            if tail:
                yield OutputChunk(tail, stream="stderr")
            yield OutputChunk(message + "\n", stream="stderr")
            yield OutputChunk(exit_code=1, result=message)
            return
        after = await self._info(program)
        summary = _describe(after)
        if action == "restart":
            old, new = before["pid"] or "-", after["pid"] or "-"
            summary = f"{program} restarted: pid {old} → {new}, {after['statename']}"
        yield OutputChunk(summary + "\n", stream="stdout")
        ok = after["statename"] == ("STOPPED" if action == "stop" else "RUNNING")
        yield OutputChunk(exit_code=0 if ok else 1, result=summary)

    async def _info(self, program: str) -> dict[str, Any]:
        try:
            info: dict[str, Any] = await self.client.call("supervisor.getProcessInfo", program)
        except xmlrpc.client.Fault as fault:
            raise SupervisorError(_fault_text(fault, program)) from None
        return info

    async def _stop(self, program: str) -> None:
        try:
            await self.client.call("supervisor.stopProcess", program, True)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode != NOT_RUNNING:  # already stopped is what we wanted
                raise

    async def _start(self, program: str) -> None:
        await self.client.call("supervisor.startProcess", program, True)

    async def _stderr_tail(self, program: str) -> str:
        try:
            text, _offset, _overflow = await self.client.call("supervisor.tailProcessStderrLog", program, 0, 2000)
        except (xmlrpc.client.Fault, SupervisorError):
            return ""
        return str(text)


def _describe(info: Mapping[str, Any]) -> str:
    group, name = info.get("group") or info["name"], info["name"]
    name = name if group == name else f"{group}:{name}"
    detail = f" ({info['description']})" if info.get("description") else ""
    return f"{name} {info['statename']}{detail}"


def _fault_text(fault: xmlrpc.client.Fault, program: str) -> str:
    if fault.faultCode == BAD_NAME:
        return f"supervisord has no program named {program!r}"
    if fault.faultCode == ALREADY_STARTED:
        return f"{program} is already running"
    if fault.faultCode == SPAWN_ERROR:
        return f"{program} could not be started (spawn error)"
    if fault.faultCode == ABNORMAL_TERMINATION:
        return f"{program} exited right after starting"
    return f"supervisord fault {fault.faultCode}: {fault.faultString}"


def build(options: Mapping[str, Any], settings: SupervisorSettings) -> SupervisorRunner:
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ConfigError(f"supervisor runner: unknown option {unknown[0]!r} (known: {', '.join(sorted(_OPTIONS))})")
    if ("url" in options) == ("endpoint" in options):
        raise ConfigError("supervisor runner: give exactly one of 'url' or 'endpoint'")
    if "endpoint" in options:
        name = options["endpoint"]
        if name not in settings.endpoints:
            known = ", ".join(sorted(settings.endpoints)) or "none"
            raise ConfigError(
                f"supervisor runner: no endpoint {name!r} under integrations.supervisor.endpoints (known: {known})"
            )
        endpoint = settings.endpoints[name]
    else:
        try:
            endpoint = SupervisorEndpoint(url=options["url"])
        except ValueError as exc:
            raise ConfigError(f"supervisor runner: option 'url': {exc}") from None
    for key in ("action", "program"):
        if key not in options:
            raise ConfigError(f"supervisor runner: option {key!r} is required")
    action = parse(options["action"], where="supervisor runner option 'action'")
    if not action.arg_names and options["action"] not in ACTIONS:
        raise ConfigError(f"supervisor runner: action must be one of {', '.join(ACTIONS)}")
    return SupervisorRunner(endpoint, action, parse(options["program"], where="supervisor runner option 'program'"))
