"""Jenkins: start a job with parameters, follow queue item → build → result, stream the
console, post the console URL, and abort (or take out of the queue) when opsroom gives up.

Authentication is HTTP Basic with a user's API token. We still fetch a CSRF crumb first
(``/crumbIssuer/api/json``): Jenkins exempts API-token requests from CSRF checks, but plugins
and older releases do not always, and the crumb costs one GET. Crumbs are bound to the web
session since Jenkins 2.176.2, so the same client (and its cookies) sends the POST.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

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

VENDOR = "Jenkins"
TYPE = "jenkins"
KNOWN = (
    "url",
    "job",
    "parameters",
    "user",
    "crumb",
    "console",
    "poll_interval",
    "find_timeout",
    "correlation_parameter",
    *SECRET_OPTIONS,
    *HTTP_OPTIONS,
)

_SEGMENT = re.compile(r"^(?!\.\.?$)[^/\x00-\x1f]{1,200}$")
_QUEUE_PATH = re.compile(r"/queue/item/(\d+)/?$")
#: Console output posted per poll is capped; the full log is one click away.
CONSOLE_CHUNK = 64_000


class JenkinsRunner:
    def __init__(self, options: Mapping[str, Any], *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        opts = Options(TYPE, options, KNOWN)
        self.url = base_url_option(opts, "url")
        self.job = value_option(opts, "job", required=True)
        self.parameters = map_option(opts, "parameters")
        self.user = opts.string("user")
        self.use_crumb = opts.boolean("crumb", True)
        self.console = opts.boolean("console", True)
        self.poll_interval = opts.number("poll_interval", 5.0, minimum=0.01)
        self.find_timeout = opts.number("find_timeout", 60.0, minimum=0.01)
        self.correlation_parameter = opts.string("correlation_parameter", "")
        self.secret = Secret.from_options(opts)
        self.http = HttpSettings.from_options(opts)
        self.transport = transport

    def _job_path(self, ctx: RunContext) -> tuple[str, str]:
        name = self.job.text(ctx.args) or ""
        segments = name.strip("/").split("/")
        if not name or not all(_SEGMENT.match(s) for s in segments):
            raise IntegrationError(f"{name!r} is not a Jenkins job name (folder/job)")
        return name, "".join(f"/job/{quote(s, safe='')}" for s in segments)

    def check_args(self, arg_names: Collection[str]) -> None:
        """Called by the catalog loader: every ``{placeholder}`` must be an argument."""
        check_placeholders(TYPE, arg_names, self.job, self.parameters)

    async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        name, job_path = self._job_path(ctx)
        params = render_map(self.parameters, ctx.args)
        if self.correlation_parameter:
            params[self.correlation_parameter] = correlation_id(ctx)
        if ctx.dry_run:
            shown = ", ".join(f"{k}={v}" for k, v in params.items()) or "no parameters"
            yield OutputChunk(text=f"dry run: would build {name} with {shown}", exit_code=0)
            return

        auth = (self.user, self.secret.read())
        async with ApiClient(VENDOR, self.url, self.http, auth=auth, transport=self.transport) as api:
            headers = await self._crumb(api) if self.use_crumb else {}
            queue_id: int | None = None
            build_path = ""
            finished = False
            try:
                yield OutputChunk(text=f"starting {name}", stream="progress")
                first_new = await self._next_build_number(api, job_path, name)
                started = await start_once(
                    lambda: self._trigger(api, job_path, params, headers, name),
                    lambda: self._find(api, job_path, params, first_new, name),
                    timeout=self.find_timeout,
                    interval=self.poll_interval,
                    where=f"{self.url}{job_path}/",
                )
                if started.recovered:
                    yield OutputChunk(text=f"{started.recovered}; found the build it started", stream="progress")
                kind, found_id = started.handle
                number, build_url = (found_id, "") if kind == "build" else (0, "")
                queue_id = found_id if kind == "queue" else None
                last_why = ""
                while not number and queue_id is not None:
                    item = require_mapping(
                        await api.json(
                            "GET", f"/queue/item/{queue_id}/api/json", what=f"read the build queue for {name}"
                        ),
                        VENDOR,
                        "read a queue item",
                    )
                    if item.get("cancelled"):
                        finished = True
                        yield OutputChunk(text=f"{name} was taken out of the queue in Jenkins", exit_code=1)
                        return
                    executable = item.get("executable")
                    if isinstance(executable, Mapping) and isinstance(executable.get("number"), int):
                        number, build_url = int(executable["number"]), str(executable.get("url") or "")
                        break
                    why = str(item.get("why") or "waiting in the queue")
                    if why != last_why:
                        yield OutputChunk(text=f"queued: {why}", stream="progress")
                        last_why = why
                    await poll_sleep(self.poll_interval)

                build_path = f"{job_path}/{number}"
                console_url = (build_url or f"{self.url}{build_path}/") + "console"
                yield OutputChunk(text=f"build #{number} started: {console_url}", stream="progress", result=console_url)
                offset = 0
                while True:
                    build = require_mapping(
                        await api.json(
                            "GET",
                            f"{build_path}/api/json",
                            params={"tree": "building,result,number,url"},
                            what=f"read builds of {name}",
                        ),
                        VENDOR,
                        "read a build",
                    )
                    if self.console:
                        text, offset = await self._console(api, build_path, offset, name)
                        if text:
                            yield OutputChunk(text=text)
                    result = build.get("result")
                    if not build.get("building") and result:
                        finished = True
                        yield OutputChunk(
                            text=f"build #{number} {str(result).lower()}: {console_url}",
                            exit_code=0 if result == "SUCCESS" else 1,
                            result=console_url,
                        )
                        return
                    await poll_sleep(self.poll_interval)
            except (asyncio.CancelledError, GeneratorExit):
                if not finished and (build_path or queue_id is not None):
                    await cancel_remote(
                        f"Jenkins {build_path or f'queue item {queue_id}'}",
                        lambda: self._abort(api, headers, build_path, queue_id, name),
                    )
                raise

    async def _trigger(
        self, api: ApiClient, job_path: str, params: dict[str, str], headers: dict[str, str], name: str
    ) -> tuple[str, int]:
        response = await api.request(
            "POST",
            f"{job_path}/{'buildWithParameters' if params else 'build'}",
            data=params,
            headers=headers,
            what=f"build {name}",
        )
        match = _QUEUE_PATH.search(urlsplit(response.headers.get("location", "")).path)
        if match is None:
            raise IntegrationError(f"Jenkins accepted the build of {name} but did not say where it is queued")
        return "queue", int(match.group(1))

    async def _next_build_number(self, api: ApiClient, job_path: str, name: str) -> int:
        job = require_mapping(
            await api.json(
                "GET", f"{job_path}/api/json", params={"tree": "nextBuildNumber"}, what=f"read the job {name}"
            ),
            VENDOR,
            "read a job",
        )
        number = job.get("nextBuildNumber")
        return number if isinstance(number, int) else 0

    async def _find(
        self, api: ApiClient, job_path: str, params: dict[str, str], first_new: int, name: str
    ) -> tuple[str, int] | None:
        """The queue item or build our lost request started: this job's, with our parameters
        (Jenkins lists every defined parameter, defaults included, so ours are a subset)."""
        queue = require_mapping(
            await api.json(
                "GET",
                "/queue/api/json",
                params={"tree": "items[id,task[url],actions[parameters[name,value]]]"},
                what=f"read the build queue for {name}",
            ),
            VENDOR,
            "read the queue",
        )
        job = require_mapping(
            await api.json(
                "GET",
                f"{job_path}/api/json",
                params={"tree": "builds[number,queueId,actions[parameters[name,value]]]{0,20}"},
                what=f"read builds of {name}",
            ),
            VENDOR,
            "read a job",
        )
        found: list[tuple[str, int]] = []
        builds = [b for b in job.get("builds") or [] if isinstance(b, Mapping)]
        started_items = {b.get("queueId") for b in builds}
        for item in queue.get("items") or []:
            task_url = str((item.get("task") or {}).get("url") or "") if isinstance(item, Mapping) else ""
            if (
                urlsplit(task_url).path.rstrip("/").endswith(job_path)
                and params.items() <= _parameters(item).items()
                and item.get("id") not in started_items
            ):
                found.append(("queue", int(item["id"])))
        for build in builds:
            number = build.get("number")
            if isinstance(number, int) and number >= first_new and params.items() <= _parameters(build).items():
                found.append(("build", int(build["number"])))
        return pick_one(
            found,
            f"builds of {name} with the same parameters",
            lambda f: f"{f[0]} {f[1]}",
            "Set correlation_parameter (a string parameter of the job) so opsroom can recognise its build.",
        )

    async def _crumb(self, api: ApiClient) -> dict[str, str]:
        response = await api.request("GET", "/crumbIssuer/api/json", what="get a CSRF crumb", accept=(404,))
        if response.status_code == 404:  # CSRF protection off (or crumbs not needed): go without
            return {}
        data = require_mapping(response.json(), VENDOR, "get a CSRF crumb")
        field, crumb = data.get("crumbRequestField"), data.get("crumb")
        if not isinstance(field, str) or not isinstance(crumb, str):
            raise IntegrationError("Jenkins answered the crumb request without a crumb")
        return {field: crumb}

    async def _console(self, api: ApiClient, build_path: str, offset: int, name: str) -> tuple[str, int]:
        response = await api.request(
            "GET",
            f"{build_path}/logText/progressiveText",
            params={"start": offset},
            what=f"read the console of {name}",
        )
        size = response.headers.get("x-text-size", "")
        new_offset = int(size) if size.isdigit() else offset + len(response.content)
        return response.text[-CONSOLE_CHUNK:], new_offset

    async def _abort(
        self, api: ApiClient, headers: dict[str, str], build_path: str, queue_id: int | None, name: str
    ) -> None:
        # Both answer with a redirect (302) on success; 404 means it is already gone.
        if build_path:
            await api.request(
                "POST",
                f"{build_path}/stop",
                headers=headers,
                what=f"abort builds of {name}",
                accept=(302, 303, 404),
                idempotent=True,  # stopping twice does no harm
            )
        elif queue_id is not None:
            await api.request(
                "POST",
                "/queue/cancelItem",
                params={"id": queue_id},
                headers=headers,
                what=f"cancel queued builds of {name}",
                accept=(302, 303, 404),
                idempotent=True,
            )


def _parameters(item: Mapping[str, Any]) -> dict[str, str]:
    """The build parameters in a queue item's or build's ``actions`` (ParametersAction)."""
    values: dict[str, str] = {}
    for action in item.get("actions") or []:
        if isinstance(action, Mapping):
            for p in action.get("parameters") or []:
                if isinstance(p, Mapping) and isinstance(p.get("name"), str):
                    values[p["name"]] = str(p.get("value"))
    return values


def factory(options: Mapping[str, Any]) -> JenkinsRunner:
    return JenkinsRunner(options)
