"""GitHub Actions: dispatch a workflow with inputs, find the run it started, follow its jobs
until it completes, post the run URL, and cancel the run when opsroom gives up on it.

Finding the run: since February 2026 the dispatch endpoint returns the run id when asked
(``return_run_details: true`` → 200 with ``workflow_run_id`` and ``html_url``); before that,
and on GitHub Enterprise Server releases that do not know the parameter, it answers 204 with
no body, and a 5xx or a lost answer leaves us not knowing whether it dispatched at all. Any
answer may lack the run id, so a snapshot of the workflow's runs is *always* taken just before
dispatching. Then we list the workflow's ``workflow_dispatch`` runs on the branch and accept a
run only if it was not in the snapshot and was created no earlier than the snapshot by
GitHub's own clock (the ``Date`` header), by the configured actor if one is set. With
``correlation_input`` the run must also carry our correlation id in its title (the workflow
shows the input in ``run-name``): that is exact even when colleagues dispatch the same
workflow at the same moment. Without it, two runs that both fit are reported, not guessed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Collection, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
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
from opsroom.integrations.once import correlation_id, pick_one, poll_until_found, start_once
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
    "correlation_input",
    *SECRET_OPTIONS,
    *HTTP_OPTIONS,
)

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_WORKFLOW = re.compile(r"^[A-Za-z0-9_.-]+$")  # a file name such as deploy.yml, or a numeric id
_REF = re.compile(r"^(?!.*\.\.)(?!-)[A-Za-z0-9._/-]+$")
#: Only when GitHub sends no ``Date`` header: runs this much older than our own clock's
#: snapshot time still count (clock skew between us and GitHub).
CLOCK_SKEW = timedelta(seconds=5)
_INPUT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,99}$")


class GitHubActionsRunner:
    def __init__(self, options: Mapping[str, Any], *, transport: httpx.AsyncBaseTransport | None = None) -> None:
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
        self.correlation_input = opts.string("correlation_input", "")
        if self.correlation_input and not _INPUT.match(self.correlation_input):
            raise opts.error("correlation_input", f"is not a workflow input name: {self.correlation_input!r}")
        if self.correlation_input in self.inputs:
            raise opts.error("correlation_input", "is also set in inputs; opsroom fills it in itself")
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
        marker = correlation_id(ctx) if self.correlation_input else ""
        if marker:
            inputs[self.correlation_input] = marker
        if ctx.dry_run:
            shown = ", ".join(f"{k}={v}" for k, v in inputs.items()) or "no inputs"
            yield OutputChunk(text=f"dry run: would dispatch {workflow} in {repo} at {ref} with {shown}", exit_code=0)
            return

        headers = {
            "Authorization": f"Bearer {self.secret.read()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": self.api_version,
        }
        async with ApiClient(VENDOR, self.api_url, self.http, headers=headers, transport=self.transport) as api:
            flow = _Flow(api, repo, workflow, ref, inputs, self.actor, marker)
            run_id: int | None = None
            finished = False
            try:
                yield OutputChunk(text=f"dispatching {workflow} in {repo} at {ref}", stream="progress")
                await flow.snapshot()
                missing = (
                    f"dispatched {workflow} in {repo}, but no run appeared within {self.find_timeout:g}s; "
                    f"look at https://github.com/{repo}/actions"
                )
                started = await start_once(
                    lambda: flow.dispatch(self.return_run_details),
                    flow.find_run,
                    timeout=self.find_timeout,
                    interval=self.poll_interval,
                    where=f"https://github.com/{repo}/actions",
                )
                if started.recovered:
                    yield OutputChunk(text=f"{started.recovered}; found the run it started", stream="progress")
                given_id, url = started.handle
                if given_id is None:
                    yield OutputChunk(text="dispatched; looking for the run it started", stream="progress")
                    found: tuple[int, str] = await poll_until_found(
                        flow.find_run, timeout=self.find_timeout, interval=self.poll_interval, missing=missing
                    )
                    following, url = found
                else:
                    following = given_id
                run_id = following
                yield OutputChunk(text=f"run started: {url}", stream="progress", result=url)
                last = ""
                while True:
                    run = await flow.get_run(following)
                    url = str(run.get("html_url") or url)
                    jobs = await flow.jobs(following)
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
        self,
        api: ApiClient,
        repo: str,
        workflow: str,
        ref: str,
        inputs: dict[str, str],
        actor: str,
        marker: str,
    ):
        self.api, self.repo, self.workflow, self.ref, self.inputs = api, repo, workflow, ref, inputs
        self.actor, self.marker = actor, marker
        self.base = f"/repos/{repo}/actions"
        self.branch = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
        self.known: set[int] = set()
        self.earliest = datetime.now(UTC)

    async def snapshot(self) -> None:
        """Remember the runs there before we dispatch, and when that was by GitHub's clock."""
        response = await self.api.request(
            "GET", self._runs_url(), params=self._params(), what=f"read workflow runs in {self.repo}"
        )
        self.known = {int(r["id"]) for r in _runs(response.json()) if isinstance(r.get("id"), int)}
        server_time = _http_date(response.headers.get("date"))
        self.earliest = server_time if server_time is not None else datetime.now(UTC) - CLOCK_SKEW

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

    def _runs_url(self) -> str:
        return f"{self.base}/workflows/{quote(self.workflow, safe='')}/runs"

    def _params(self, created_after: datetime | None = None) -> dict[str, str | int]:
        params: dict[str, str | int] = {"event": "workflow_dispatch", "branch": self.branch, "per_page": 30}
        if self.actor:
            params["actor"] = self.actor
        if created_after is not None:
            params["created"] = ">=" + created_after.strftime("%Y-%m-%dT%H:%M:%SZ")
        return params

    async def find_run(self) -> tuple[int, str] | None:
        """One look at the run list: the run our dispatch started, if it shows yet."""
        data = await self.api.json(
            "GET",
            self._runs_url(),
            params=self._params(self.earliest - timedelta(minutes=1)),
            what=f"read workflow runs in {self.repo}",
        )
        candidates = []
        for run in _runs(data):
            run_id = run.get("id")
            if not isinstance(run_id, int) or run_id in self.known:
                continue
            if run.get("event", "workflow_dispatch") != "workflow_dispatch":
                continue
            if run.get("head_branch") not in (None, self.branch):
                continue
            if self.actor and _login(run) not in ("", self.actor):
                continue
            created = _parse_time(run.get("created_at"))
            if created is None or created < self.earliest:
                continue  # it existed before we dispatched: someone else's
            if self.marker and self.marker not in str(run.get("display_title") or ""):
                continue
            candidates.append((run_id, str(run.get("html_url") or "")))
        return pick_one(
            sorted(candidates),
            f"runs of {self.workflow}",
            lambda c: c[1] or str(c[0]),
            "Set correlation_input (see docs/integrations.md) so opsroom can recognise its run.",
        )

    async def get_run(self, run_id: int) -> Mapping[str, Any]:
        data = await self.api.json("GET", f"{self.base}/runs/{run_id}", what=f"read workflow runs in {self.repo}")
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
        # 202 Accepted; 409 means the run already finished, which is fine here. Cancelling
        # twice does no harm, so a 5xx is retried like a read.
        await self.api.request(
            "POST",
            f"{self.base}/runs/{run_id}/cancel",
            what=f"cancel workflow runs in {self.repo}",
            accept=(409,),
            idempotent=True,
        )


def _runs(data: Any) -> list[Mapping[str, Any]]:
    runs = require_mapping(data, VENDOR, "list workflow runs").get("workflow_runs") or []
    return [r for r in runs if isinstance(r, Mapping)]


def _http_date(value: str | None) -> datetime | None:
    """An HTTP ``Date`` header, truncated to the second as GitHub's ``created_at`` is."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC).replace(microsecond=0)
    except (TypeError, ValueError):
        return None


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
