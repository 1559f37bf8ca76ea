"""GitLab CI: create a pipeline on a ref with variables, follow it and its jobs until it
finishes, post its URL, and cancel it when opsroom gives up on the run.

Uses the REST API v4 with a personal, project or group access token (``PRIVATE-TOKEN``
header). Trigger tokens are not used: they can start a pipeline but not read or cancel it,
and following and cancelling are the point here.
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
from opsroom.integrations.remote import cancel_remote, poll_sleep
from opsroom.integrations.templating import check_placeholders, map_option, render_map, value_option
from opsroom.runs.runners.options import Options

VENDOR = "GitLab"
TYPE = "gitlab"
KNOWN = ("project", "ref", "variables", "api_url", "poll_interval", *SECRET_OPTIONS, *HTTP_OPTIONS)

_PROJECT = re.compile(r"^(\d+|[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+)$")
_REF = re.compile(r"^(?!.*\.\.)(?!-)[A-Za-z0-9._/-]+$")
_VARIABLE = re.compile(r"^[A-Za-z0-9_]+$")  # GitLab's rule for variable keys
#: Pipeline statuses after which nothing more happens without a person ("manual": blocked
#: on a manual job). https://docs.gitlab.com/api/pipelines/ lists them all.
FINISHED = {"success", "failed", "canceled", "skipped", "manual"}


class GitLabRunner:
    def __init__(
        self, options: Mapping[str, Any], *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        opts = Options(TYPE, options, KNOWN)
        self.project = value_option(opts, "project", required=True)
        self.ref = value_option(opts, "ref", required=True)
        self.variables = map_option(opts, "variables")
        for key in self.variables:
            if not _VARIABLE.match(key):
                raise opts.error("variables", f"has a bad variable name {key!r} (letters, digits, _)")
        self.api_url = base_url_option(opts, "api_url", "https://gitlab.com")
        self.poll_interval = opts.number("poll_interval", 5.0, minimum=0.01)
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
        if ctx.dry_run:
            shown = ", ".join(f"{k}={v}" for k, v in variables.items()) or "no variables"
            yield OutputChunk(
                text=f"dry run: would start a pipeline in {project} on {ref} with {shown}", exit_code=0
            )
            return

        base = f"/api/v4/projects/{quote(project, safe='')}"
        headers = {"PRIVATE-TOKEN": self.secret.read()}
        async with ApiClient(
            VENDOR, self.api_url, self.http, headers=headers, transport=self.transport
        ) as api:
            pipeline_id: int | None = None
            finished = False
            try:
                yield OutputChunk(text=f"starting a pipeline in {project} on {ref}", stream="progress")
                created = require_mapping(
                    await api.json(
                        "POST",
                        f"{base}/pipeline",
                        json={
                            "ref": ref,
                            "variables": [{"key": k, "value": v} for k, v in variables.items()],
                        },
                        what=f"create pipelines in {project}",
                    ),
                    VENDOR,
                    "create a pipeline",
                )
                if not isinstance(created.get("id"), int):
                    raise IntegrationError("GitLab created a pipeline but did not say its id")
                pipeline_id = int(created["id"])
                url = str(created.get("web_url") or "")
                yield OutputChunk(text=f"pipeline started: {url}", stream="progress", result=url)
                last = ""
                while True:
                    pipeline = require_mapping(
                        await api.json(
                            "GET", f"{base}/pipelines/{pipeline_id}", what=f"read pipelines in {project}"
                        ),
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
                        ),
                    )
                raise


def _progress_line(pipeline_id: int, status: str, jobs: list[Any]) -> str:
    parts = [f"{j.get('name', '?')} {j.get('status', '?')}" for j in jobs if isinstance(j, Mapping)]
    return f"pipeline #{pipeline_id} {status}" + (" — " + " · ".join(parts) if parts else "")


def factory(options: Mapping[str, Any]) -> GitLabRunner:
    return GitLabRunner(options)
