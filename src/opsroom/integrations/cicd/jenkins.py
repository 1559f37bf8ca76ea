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
    *SECRET_OPTIONS,
    *HTTP_OPTIONS,
)

_SEGMENT = re.compile(r"^(?!\.\.?$)[^/\x00-\x1f]{1,200}$")
_QUEUE_PATH = re.compile(r"/queue/item/(\d+)/?$")
#: Console output posted per poll is capped; the full log is one click away.
CONSOLE_CHUNK = 64_000


class JenkinsRunner:
    def __init__(
        self, options: Mapping[str, Any], *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        opts = Options(TYPE, options, KNOWN)
        self.url = base_url_option(opts, "url")
        self.job = value_option(opts, "job", required=True)
        self.parameters = map_option(opts, "parameters")
        self.user = opts.string("user")
        self.use_crumb = opts.boolean("crumb", True)
        self.console = opts.boolean("console", True)
        self.poll_interval = opts.number("poll_interval", 5.0, minimum=0.01)
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
                response = await api.request(
                    "POST",
                    f"{job_path}/{'buildWithParameters' if params else 'build'}",
                    data=params,
                    headers=headers,
                    what=f"build {name}",
                )
                match = _QUEUE_PATH.search(urlsplit(response.headers.get("location", "")).path)
                if match is None:
                    raise IntegrationError(
                        f"Jenkins accepted the build of {name} but did not say where it is queued"
                    )
                queue_id = int(match.group(1))
                number, build_url = 0, ""
                last_why = ""
                while not number:
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
                yield OutputChunk(
                    text=f"build #{number} started: {console_url}", stream="progress", result=console_url
                )
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
            )
        elif queue_id is not None:
            await api.request(
                "POST",
                "/queue/cancelItem",
                params={"id": queue_id},
                headers=headers,
                what=f"cancel queued builds of {name}",
                accept=(302, 303, 404),
            )


def factory(options: Mapping[str, Any]) -> JenkinsRunner:
    return JenkinsRunner(options)
