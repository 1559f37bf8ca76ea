"""GitHub Actions: dispatch a workflow with inputs, find the run it started, follow its jobs
until it completes, post the run URL, and cancel the run when opsroom gives up on it.

Finding the run: since February 2026 the dispatch endpoint returns the run id when asked
(``return_run_details: true`` → 200 with ``workflow_run_id`` and ``html_url``); before that,
and on GitHub Enterprise Server releases that do not know the parameter, it answers 204 with
no body. Then we list the workflow's ``workflow_dispatch`` runs on the dispatched branch and
take the oldest one that was not there before we dispatched (a snapshot of ids taken just
before), created after the dispatch, by the configured actor if one is set.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Collection, Mapping
from datetime import UTC, datetime, timedelta
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
    vendor_detail,
)
from opsroom.integrations.remote import cancel_remote, poll_sleep
from opsroom.integrations.templating import check_placeholders, map_option, render_map, value_option
from opsroom.runs.runners.options import Options

VENDOR = "GitHub"
TYPE = "github_actions"
KNOWN = (
    "repo",
    "workflow",
    "ref",
    "inputs",
    "actor",
    "api_url",
    "api_version",
    "poll_interval",
    "find_timeout",
    "return_run_details",
    *SECRET_OPTIONS,
    *HTTP_OPTIONS,
)

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_WORKFLOW = re.compile(r"^[A-Za-z0-9_.-]+$")  # a file name such as deploy.yml, or a numeric id
_REF = re.compile(r"^(?!.*\.\.)(?!-)[A-Za-z0-9._/-]+$")
#: Runs whose ``created_at`` is this much before our dispatch still count (clock skew).
CLOCK_SKEW = timedelta(seconds=5)


class GitHubActionsRunner:
    def __init__(
        self, options: Mapping[str, Any], *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        opts = Options(TYPE, options, KNOWN)
        self.repo = value_option(opts, "repo", required=True)
        self.workflow = value_option(opts, "workflow", required=True)
        self.ref = value_option(opts, "ref", required=True)
        self.inputs = map_option(opts, "inputs")
        self.actor = opts.string("actor", "")
        self.api_url = base_url_option(opts, "api_url", "https://api.github.com")
        self.api_version = opts.string("api_version", "2022-11-28")
        self.poll_interval = opts.number("poll_interval", 5.0, minimum=0.01)
        self.find_timeout = opts.number("find_timeout", 60.0, minimum=0.01)
        self.return_run_details = opts.boolean("return_run_details", True)
        self.secret = Secret.from_options(opts)
        self.http = HttpSettings.from_options(opts)
        self.transport = transport

    def check_args(self, arg_names: Collection[str]) -> None:
        """Called by the catalog loader: every ``{placeholder}`` must be an argument."""
        check_placeholders(TYPE, arg_names, self.repo, self.workflow, self.ref, self.inputs)

    async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        repo, workflow, ref = (
            self._text("repo", self.repo, ctx),
            self._text("workflow", self.workflow, ctx),
            self._text("ref", self.ref, ctx),
        )
        if not _REPO.match(repo):
            raise IntegrationError(f"{repo!r} is not a GitHub repository name (owner/name)")
        if not _WORKFLOW.match(workflow):
            raise IntegrationError(f"{workflow!r} is not a workflow file name or id")
        if not _REF.match(ref):
            raise IntegrationError(f"{ref!r} is not a branch or tag name")
        inputs = render_map(self.inputs, ctx.args)
        if ctx.dry_run:
            shown = ", ".join(f"{k}={v}" for k, v in inputs.items()) or "no inputs"
            yield OutputChunk(
                text=f"dry run: would dispatch {workflow} in {repo} at {ref} with {shown}", exit_code=0
            )
            return

        headers = {
            "Authorization": f"Bearer {self.secret.read()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": self.api_version,
        }
        async with ApiClient(
            VENDOR, self.api_url, self.http, headers=headers, transport=self.transport
        ) as api:
            flow = _Flow(api, repo, workflow, ref, inputs, self.actor)
            run_id: int | None = None
            finished = False
            try:
                yield OutputChunk(text=f"dispatching {workflow} in {repo} at {ref}", stream="progress")
                known = set() if self.return_run_details else await flow.recent_run_ids()
                started = datetime.now(UTC)
                run_id, url = await flow.dispatch(self.return_run_details)
                if run_id is None:
                    yield OutputChunk(text="dispatched; looking for the run it started", stream="progress")
                    run_id, url = await flow.find_run(known, started, self.find_timeout, self.poll_interval)
                yield OutputChunk(text=f"run started: {url}", stream="progress", result=url)
                last = ""
                while True:
                    run = await flow.get_run(run_id)
                    url = str(run.get("html_url") or url)
                    jobs = await flow.jobs(run_id)
                    line = _progress_line(run, jobs)
                    if line != last:
                        yield OutputChunk(text=line, stream="progress", result=url)
                        last = line
                    if run.get("status") == "completed":
                        finished = True
                        conclusion = str(run.get("conclusion") or "unknown")
                        yield OutputChunk(
                            text=f"workflow run {conclusion}: {url}",
                            exit_code=0 if conclusion == "success" else 1,
                            result=url,
                        )
                        return
                    await poll_sleep(self.poll_interval)
            except (asyncio.CancelledError, GeneratorExit):
                if run_id is not None and not finished:
                    await cancel_remote(f"GitHub run {run_id}", lambda: flow.cancel(run_id))
                raise

    @staticmethod
    def _text(key: str, value: Any, ctx: RunContext) -> str:
        text = value.text(ctx.args)
        if not text:
            raise IntegrationError(f"github_actions: {key} is empty for this run")
        return str(text)


class _Flow:
    """The REST calls of one dispatch, named after what they do."""

    def __init__(
        self, api: ApiClient, repo: str, workflow: str, ref: str, inputs: dict[str, str], actor: str
    ):
        self.api, self.repo, self.workflow, self.ref, self.inputs, self.actor = (
            api,
            repo,
            workflow,
            ref,
            inputs,
            actor,
        )
        self.base = f"/repos/{repo}/actions"
        self.branch = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")

    async def dispatch(self, with_details: bool) -> tuple[int | None, str]:
        """POST …/dispatches. Returns the run id and URL when GitHub tells us, else (None, "")."""
        url = f"{self.base}/workflows/{quote(self.workflow, safe='')}/dispatches"
        body: dict[str, Any] = {"ref": self.ref, "inputs": self.inputs}
        what = f"dispatch workflows in {self.repo}"
        if with_details:
            response = await self.api.request(
                "POST", url, json={**body, "return_run_details": True}, what=what, accept=(400, 422)
            )
            if response.status_code in (400, 422) and "return_run_details" not in vendor_detail(response):
                raise IntegrationError(_refused(response, self.workflow), status=response.status_code)
            if response.status_code == 200 and response.content:
                details = require_mapping(response.json(), VENDOR, what)
                run_id = details.get("workflow_run_id")
                if isinstance(run_id, int):
                    return run_id, str(details.get("html_url") or "")
            if response.status_code in (200, 204):
                return None, ""
            # An older GitHub Enterprise Server that does not know the parameter: plain dispatch.
        response = await self.api.request("POST", url, json=body, what=what, accept=(422,))
        if response.status_code == 422:
            raise IntegrationError(_refused(response, self.workflow), status=422)
        return None, ""

    async def list_runs(self, created_after: datetime | None = None) -> list[Mapping[str, Any]]:
        params: dict[str, str | int] = {"event": "workflow_dispatch", "branch": self.branch, "per_page": 30}
        if self.actor:
            params["actor"] = self.actor
        if created_after is not None:
            params["created"] = ">=" + created_after.strftime("%Y-%m-%dT%H:%M:%SZ")
        data = await self.api.json(
            "GET",
            f"{self.base}/workflows/{quote(self.workflow, safe='')}/runs",
            params=params,
            what=f"read workflow runs in {self.repo}",
        )
        runs = require_mapping(data, VENDOR, "list workflow runs").get("workflow_runs") or []
        return [r for r in runs if isinstance(r, Mapping)]

    async def recent_run_ids(self) -> set[int]:
        return {int(r["id"]) for r in await self.list_runs() if isinstance(r.get("id"), int)}

    async def find_run(
        self, known: set[int], started: datetime, timeout: float, interval: float
    ) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        earliest = started - CLOCK_SKEW
        while True:
            candidates = []
            for run in await self.list_runs(created_after=earliest - timedelta(minutes=1)):
                run_id = run.get("id")
                if not isinstance(run_id, int) or run_id in known:
                    continue
                if run.get("event", "workflow_dispatch") != "workflow_dispatch":
                    continue
                if run.get("head_branch") not in (None, self.branch):
                    continue
                if self.actor and _login(run) not in ("", self.actor):
                    continue
                created = _parse_time(run.get("created_at"))
                if created is not None and created < earliest:
                    continue
                candidates.append((created or started, run_id, str(run.get("html_url") or "")))
            if candidates:
                _, run_id, url = min(candidates)
                return run_id, url
            if time.monotonic() >= deadline:
                raise IntegrationError(
                    f"dispatched {self.workflow} in {self.repo}, but no run appeared within {timeout:g}s; "
                    f"look at https://github.com/{self.repo}/actions"
                )
            await poll_sleep(interval)

    async def get_run(self, run_id: int) -> Mapping[str, Any]:
        data = await self.api.json(
            "GET", f"{self.base}/runs/{run_id}", what=f"read workflow runs in {self.repo}"
        )
        return require_mapping(data, VENDOR, "read a workflow run")

    async def jobs(self, run_id: int) -> list[Mapping[str, Any]]:
        data = await self.api.json(
            "GET",
            f"{self.base}/runs/{run_id}/jobs",
            params={"per_page": 100},
            what=f"read workflow jobs in {self.repo}",
        )
        jobs = require_mapping(data, VENDOR, "list jobs").get("jobs") or []
        return [j for j in jobs if isinstance(j, Mapping)]

    async def cancel(self, run_id: int) -> None:
        # 202 Accepted; 409 means the run already finished, which is fine here.
        await self.api.request(
            "POST",
            f"{self.base}/runs/{run_id}/cancel",
            what=f"cancel workflow runs in {self.repo}",
            accept=(409,),
        )


def _refused(response: httpx.Response, workflow: str) -> str:
    detail = vendor_detail(response)
    return f"GitHub refused to dispatch {workflow} ({response.status_code}): {detail or 'no reason given'}"


def _login(run: Mapping[str, Any]) -> str:
    for key in ("triggering_actor", "actor"):
        who = run.get(key)
        if isinstance(who, Mapping) and isinstance(who.get("login"), str):
            return str(who["login"])
    return ""


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


_JOB_MARK = {"success": "✓", "failure": "✗", "cancelled": "⊘", "skipped": "–", "timed_out": "✗"}


def _progress_line(run: Mapping[str, Any], jobs: list[Mapping[str, Any]]) -> str:
    """One status line: the run's state and each job's, e.g.
    ``run #42 in_progress — build ✓ · deploy in_progress``."""
    number = run.get("run_number", run.get("id"))
    head = f"run #{number} {run.get('status', '?')}"
    parts = []
    for job in jobs:
        state = str(job.get("status", "?"))
        if state == "completed":
            conclusion = str(job.get("conclusion") or "")
            state = _JOB_MARK.get(conclusion, conclusion or "done")
        parts.append(f"{job.get('name', '?')} {state}")
    return head + (" — " + " · ".join(parts) if parts else "")


def factory(options: Mapping[str, Any]) -> GitHubActionsRunner:
    return GitHubActionsRunner(options)
