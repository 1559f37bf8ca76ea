"""GitLab CI: create a pipeline on a ref with variables, follow it and its jobs until it
finishes, post its URL, and cancel it when opsroom gives up on the run.

Uses the REST API v4 with a personal, project or group access token (``PRIVATE-TOKEN``
header). Trigger tokens are not used: they can start a pipeline but not read or cancel it,
and following and cancelling are the point here.

Starting once: the create request is never repeated. When its answer is lost (a proxy's 502
after GitLab created the pipeline) we list the project's API-triggered pipelines on the ref
that are newer than the newest one seen just before, and take the one whose variables are
ours — with ``correlation_variable``, one carrying our correlation id, which is exact.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any
from urllib.parse import quote

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
from opsroom.integrations.once import correlation_id, pick_one, start_once
from opsroom.integrations.remote import cancel_remote, poll_sleep
from opsroom.integrations.templating import check_placeholders, map_option, render_map, value_option
from opsroom.runs.runners.options import Options

VENDOR = "GitLab"
TYPE = "gitlab"
KNOWN = (
    "project",
    "ref",
    "variables",
    "api_url",
    "poll_interval",
    "find_timeout",
    "correlation_variable",
    *SECRET_OPTIONS,
    *HTTP_OPTIONS,
)

_PROJECT = re.compile(r"^(\d+|[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+)$")
_REF = re.compile(r"^(?!.*\.\.)(?!-)[A-Za-z0-9._/-]+$")
_VARIABLE = re.compile(r"^[A-Za-z0-9_]+$")  # GitLab's rule for variable keys
#: Pipeline statuses after which nothing more happens without a person ("manual": blocked
#: on a manual job). https://docs.gitlab.com/api/pipelines/ lists them all.
FINISHED = {"success", "failed", "canceled", "skipped", "manual"}


class GitLabRunner:
    def __init__(self, options: Mapping[str, Any], *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        opts = Options(TYPE, options, KNOWN)
        self.project = value_option(opts, "project", required=True)
        self.ref = value_option(opts, "ref", required=True)
        self.variables = map_option(opts, "variables")
        for key in self.variables:
            if not _VARIABLE.match(key):
                raise opts.error("variables", f"has a bad variable name {key!r} (letters, digits, _)")
        self.api_url = base_url_option(opts, "api_url", "https://gitlab.com")
        self.poll_interval = opts.number("poll_interval", 5.0, minimum=0.01)
        self.find_timeout = opts.number("find_timeout", 60.0, minimum=0.01)
        self.correlation_variable = opts.string("correlation_variable", "")
        if self.correlation_variable and not _VARIABLE.match(self.correlation_variable):
            raise opts.error("correlation_variable", "must be a variable name (letters, digits, _)")
        self.secret = Secret.from_options(opts)
        self.http = HttpSettings.from_options(opts)
        self.transport = transport

    def check_args(self, arg_names: Collection[str]) -> None:
        """Called by the catalog loader: every ``{placeholder}`` must be an argument."""
        check_placeholders(TYPE, arg_names, self.project, self.ref, self.variables)

    async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        project = self.project.text(ctx.args) or ""
        ref = self.ref.text(ctx.args) or ""
        if not _PROJECT.match(project):
            raise IntegrationError(f"{project!r} is not a GitLab project id or path (group/project)")
        if not _REF.match(ref):
            raise IntegrationError(f"{ref!r} is not a branch or tag name")
        variables = render_map(self.variables, ctx.args)
        if self.correlation_variable:
            variables[self.correlation_variable] = correlation_id(ctx)
        if ctx.dry_run:
            shown = ", ".join(f"{k}={v}" for k, v in variables.items()) or "no variables"
            yield OutputChunk(text=f"dry run: would start a pipeline in {project} on {ref} with {shown}", exit_code=0)
            return

        base = f"/api/v4/projects/{quote(project, safe='')}"
        headers = {"PRIVATE-TOKEN": self.secret.read()}
        async with ApiClient(VENDOR, self.api_url, self.http, headers=headers, transport=self.transport) as api:
            pipeline_id: int | None = None
            finished = False
            try:
                yield OutputChunk(text=f"starting a pipeline in {project} on {ref}", stream="progress")
                lookup = _Lookup(api, base, project, ref, variables)
                newest_before = await lookup.newest_id()
                started = await start_once(
                    lambda: lookup.create(),
                    lambda: lookup.find(newest_before),
                    timeout=self.find_timeout,
                    interval=self.poll_interval,
                    where=f"{self.api_url}/{project}/-/pipelines",
                )
                if started.recovered:
                    yield OutputChunk(text=f"{started.recovered}; found the pipeline it started", stream="progress")
                created = started.handle
                pipeline_id = int(created["id"])
                url = str(created.get("web_url") or "")
                yield OutputChunk(text=f"pipeline started: {url}", stream="progress", result=url)
                last = ""
                while True:
                    pipeline = require_mapping(
                        await api.json("GET", f"{base}/pipelines/{pipeline_id}", what=f"read pipelines in {project}"),
                        VENDOR,
                        "read a pipeline",
                    )
                    jobs = await api.json(
                        "GET",
                        f"{base}/pipelines/{pipeline_id}/jobs",
                        params={"per_page": 100},
                        what=f"read pipeline jobs in {project}",
                    )
                    status = str(pipeline.get("status", "unknown"))
                    line = _progress_line(pipeline_id, status, jobs if isinstance(jobs, list) else [])
                    if line != last:
                        yield OutputChunk(text=line, stream="progress", result=url)
                        last = line
                    if status in FINISHED:
                        finished = True
                        yield OutputChunk(
                            text=f"pipeline {status}: {url}",
                            exit_code=0 if status == "success" else 1,
                            result=url,
                        )
                        return
                    await poll_sleep(self.poll_interval)
            except (asyncio.CancelledError, GeneratorExit):
                if pipeline_id is not None and not finished:
                    await cancel_remote(
                        f"GitLab pipeline {pipeline_id}",
                        lambda: api.request(
                            "POST",
                            f"{base}/pipelines/{pipeline_id}/cancel",
                            what=f"cancel pipelines in {project}",
                            idempotent=True,  # cancelling twice does no harm
                        ),
                    )
                raise


class _Lookup:
    """Creating the pipeline, and finding it again when the create answer was lost."""

    def __init__(self, api: ApiClient, base: str, project: str, ref: str, variables: dict[str, str]) -> None:
        self.api, self.base, self.project, self.ref, self.variables = api, base, project, ref, variables

    async def create(self) -> Mapping[str, Any]:
        created = require_mapping(
            await self.api.json(
                "POST",
                f"{self.base}/pipeline",
                json={"ref": self.ref, "variables": [{"key": k, "value": v} for k, v in self.variables.items()]},
                what=f"create pipelines in {self.project}",
            ),
            VENDOR,
            "create a pipeline",
        )
        if not isinstance(created.get("id"), int):
            raise IntegrationError("GitLab created a pipeline but did not say its id")
        return created

    async def _list(self, **params: str | int) -> list[Mapping[str, Any]]:
        data = await self.api.json(
            "GET",
            f"{self.base}/pipelines",
            params={"ref": self.ref, "order_by": "id", "sort": "desc", **params},
            what=f"read pipelines in {self.project}",
        )
        return [p for p in data if isinstance(p, Mapping)] if isinstance(data, list) else []

    async def newest_id(self) -> int:
        newest = await self._list(per_page=1)
        return int(newest[0]["id"]) if newest and isinstance(newest[0].get("id"), int) else 0

    async def find(self, newest_before: int) -> Mapping[str, Any] | None:
        ours = []
        for pipeline in await self._list(source="api", per_page=20):
            pid = pipeline.get("id")
            if not isinstance(pid, int) or pid <= newest_before:
                continue
            raw = await self.api.json(
                "GET", f"{self.base}/pipelines/{pid}/variables", what=f"read pipelines in {self.project}"
            )
            sent = {str(v.get("key")): str(v.get("value")) for v in raw or [] if isinstance(v, Mapping)}
            if sent == self.variables:
                ours.append(pipeline)
        return pick_one(
            ours,
            f"pipelines on {self.ref} with the same variables",
            lambda p: str(p.get("web_url") or p.get("id")),
            "Set correlation_variable so opsroom can recognise its pipeline.",
        )


def _progress_line(pipeline_id: int, status: str, jobs: list[Any]) -> str:
    parts = [f"{j.get('name', '?')} {j.get('status', '?')}" for j in jobs if isinstance(j, Mapping)]
    return f"pipeline #{pipeline_id} {status}" + (" — " + " · ".join(parts) if parts else "")


def factory(options: Mapping[str, Any]) -> GitLabRunner:
    return GitLabRunner(options)
