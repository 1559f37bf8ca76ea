"""One runner type per cloud provider (``aws`` today), with an ``action`` option:

- ``scale_service`` / ``scale_group``: set a configured ECS service's desired count or an
  Auto Scaling group's desired capacity, refused outside the config's min/max before any
  call; then follows the service until it is steady (groups: reports the new capacity);
- ``restart_service``: a new deployment (ECS ``forceNewDeployment``), followed to steady;
- ``describe``: services, groups or instances, read-only, as a table;
- ``rotate_access_key``: keys.rotate_access_key (create, verify, store, deactivate,
  schedule the old key's deletion);
- ``rotate_secret``: ask Secrets Manager to run the secret's own rotation.

``--dry-run`` reads the current state and describes the change (the provider's own DryRun
where it has one). Targets, environments and users are names from the config; anything else
is refused before a call is made.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from datetime import timedelta
from typing import Any

from opsroom.config.cloud import KeyRotation
from opsroom.core import OutputChunk, RunContext
from opsroom.integrations.cloud.base import Bounds, CloudError, CloudProvider
from opsroom.integrations.cloud.keys import rotate_access_key
from opsroom.integrations.cloud.schedule import EXTRA
from opsroom.integrations.sql.table import render_table
from opsroom.integrations.templating import Value, check_placeholders, value_option
from opsroom.runs.runners.options import Options

ACTIONS = ("scale_service", "scale_group", "restart_service", "describe", "rotate_access_key", "rotate_secret")
KNOWN = ("action", "environment", "target", "count", "what", "user", "secret", "wait", "poll_interval")
_SECRET_ID = re.compile(r"^[A-Za-z0-9/_+=.@:-]{1,2048}$")
ProviderFactory = Callable[[str], CloudProvider]  # environment name -> provider
BoundsLookup = Callable[[str, str, str], Bounds]  # (environment, "service"|"group", target) -> bounds
RotationLookup = Callable[[str], KeyRotation]  # environment -> its key rotation settings


class CloudRunner:
    def __init__(
        self,
        type_name: str,
        options: Mapping[str, Any],
        providers: ProviderFactory,
        bounds: BoundsLookup,
        rotation: RotationLookup,
        *,
        poll_interval: float = 5.0,
    ) -> None:
        opts = Options(type_name, options, KNOWN)
        self.type_name = type_name
        self.action = opts.string("action")
        if self.action not in ACTIONS:
            raise opts.error("action", f"must be one of {', '.join(ACTIONS)}, not {self.action!r}")
        needs = {
            "scale_service": ("target", "count"),
            "scale_group": ("target", "count"),
            "restart_service": ("target",),
            "describe": ("what",),
            "rotate_access_key": ("user",),
            "rotate_secret": ("secret",),
        }[self.action]
        self.environment = value_option(opts, "environment", required=True)
        self.values: dict[str, Value] = {
            k: value_option(opts, k, required=k in needs) for k in ("target", "count", "what", "user", "secret")
        }
        for key in self.values:
            if opts.has(key) and key not in needs:
                raise opts.error(key, f"does not apply to action: {self.action}")
        self.wait = opts.boolean("wait", True)
        self.poll_interval = opts.number("poll_interval", poll_interval, minimum=0.01)
        self.providers = providers
        self.bounds = bounds
        self.rotation = rotation

    def check_args(self, arg_names: Collection[str]) -> None:
        check_placeholders(self.type_name, arg_names, self.environment, *self.values.values())

    def _text(self, key: str, ctx: RunContext) -> str:
        value = (self.environment if key == "environment" else self.values[key]).text(ctx.args)
        if not value:
            raise CloudError(f"{key} is empty")
        return value

    def _count(self, ctx: RunContext) -> int:
        raw = self._text("count", ctx)
        if not raw.isdigit():
            raise CloudError(f"{raw!r} is not a count")
        return int(raw)

    async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        try:
            environment = self._text("environment", ctx)
            provider = self.providers(environment)
            action: Callable[[CloudProvider, str, RunContext], AsyncIterator[OutputChunk]] = getattr(
                self, "_" + self.action
            )
            async for chunk in action(provider, environment, ctx):
                yield chunk
        except CloudError as err:
            yield OutputChunk(text=f"{err}\n", stream="stderr", exit_code=1, result=str(err))

    # -- scaling ---------------------------------------------------------------------------
    async def _scale_service(self, p: CloudProvider, env: str, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        async for chunk in self._scale(p, env, ctx, "service"):
            yield chunk

    async def _scale_group(self, p: CloudProvider, env: str, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        async for chunk in self._scale(p, env, ctx, "group"):
            yield chunk

    async def _scale(self, p: CloudProvider, env: str, ctx: RunContext, kind: str) -> AsyncIterator[OutputChunk]:
        target, count = self._text("target", ctx), self._count(ctx)
        self.bounds(env, kind, target).check(kind, target, count)  # before any call
        current = await (p.service_capacity(target) if kind == "service" else p.group_capacity(target))
        plan = f"{kind} {target} in {env}: desired {current.desired} → {count} (running {current.running})"
        if ctx.dry_run:
            yield OutputChunk(text=f"dry run: would scale {plan}\n", exit_code=0, result=f"plan: {plan}")
            return
        if current.desired == count:
            yield OutputChunk(text=f"{kind} {target} already wants {count}; nothing to do\n", exit_code=0)
            return
        await (p.scale_service(target, count) if kind == "service" else p.scale_group(target, count))
        yield OutputChunk(text=f"scaling {plan}", stream="progress")  # progress lines land in the output too
        if kind == "service" and self.wait:
            async for chunk in self._follow(p, target, ctx, f"scaled to {count}"):
                yield chunk
            return
        after = await p.group_capacity(target) if kind == "group" else await p.service_capacity(target)
        yield OutputChunk(
            text=f"{kind} {target}: desired {after.desired}, in service {after.running}\n",
            exit_code=0,
            result=f"{kind} {target} desired {after.desired}",
        )

    # -- restart ---------------------------------------------------------------------------
    async def _restart_service(self, p: CloudProvider, env: str, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        target = self._text("target", ctx)
        before = await p.rollout(target)
        if ctx.dry_run:
            plan = (
                f"service {target} in {env}: a new deployment replacing {before.deployment_id} "
                f"({before.running}/{before.desired} running); ECS has no DryRun"
            )
            yield OutputChunk(text=f"dry run: would restart {plan}\n", exit_code=0, result=f"plan: {plan}")
            return
        deployment = await p.restart_service(target)
        yield OutputChunk(
            text=f"new deployment {deployment} of {target} in {env} (was {before.deployment_id})", stream="progress"
        )
        if not self.wait:
            yield OutputChunk(exit_code=0, result=f"deployment {deployment} started")
            return
        async for chunk in self._follow(p, target, ctx, f"restarted (deployment {deployment})"):
            yield chunk

    async def _follow(self, p: CloudProvider, target: str, ctx: RunContext, done: str) -> AsyncIterator[OutputChunk]:
        """Report each change until the service is steady; the run's timeout ends it."""
        last = ""
        while True:
            r = await p.rollout(target)
            line = (
                f"{target}: {r.running}/{r.desired} running, {r.pending} pending, "
                f"{r.deployments} deployment(s), {r.state.lower().replace('_', ' ')}"
            )
            if line != last:
                yield OutputChunk(text=line, stream="progress")
                last = line
            if r.failed:
                yield OutputChunk(
                    text=f"deployment {r.deployment_id} failed\n",
                    stream="stderr",
                    exit_code=1,
                    result=f"{target}: deployment failed",
                )
                return
            if r.steady:
                yield OutputChunk(text=f"{target} is steady: {done}\n", exit_code=0, result=f"{target} {done}")
                return
            await asyncio.sleep(self.poll_interval)

    # -- read-only -------------------------------------------------------------------------
    async def _describe(self, p: CloudProvider, env: str, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        what = self._text("what", ctx)
        if ctx.dry_run:
            note = await p.can_describe(what)
            yield OutputChunk(text=f"dry run: {note}\n", exit_code=0, result=note)
            return
        found = await p.describe(what)
        table = render_table(found.columns, found.rows) if found.rows else f"no {what} in {env}"
        yield OutputChunk(text=table + "\n", exit_code=0, result=f"{what} in {env}: {len(found.rows)}")

    # -- keys ------------------------------------------------------------------------------
    async def _rotate_access_key(self, p: CloudProvider, env: str, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        user = self._text("user", ctx)
        deletions = ctx.extras.get(EXTRA)
        if deletions is None and not ctx.dry_run:
            raise CloudError("key rotation needs opsroom's deletion schedule (run it from opsroom, not standalone)")
        settings = self.rotation(env)
        async for chunk in rotate_access_key(
            p, env, user, ctx, deletions, allowed=settings.users, grace=timedelta(seconds=settings.grace_seconds)
        ):
            yield chunk

    async def _rotate_secret(self, p: CloudProvider, env: str, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        secret = self._text("secret", ctx)
        if not _SECRET_ID.match(secret):
            raise CloudError(f"{secret!r} is not a secret name or ARN")
        if ctx.dry_run:
            yield OutputChunk(text=f"dry run: would start the rotation of secret {secret} in {env}\n", exit_code=0)
            return
        version = await p.rotate_secret(secret)
        yield OutputChunk(
            text=f"rotation of {secret} started: new version {version}\n",
            exit_code=0,
            result=f"secret {secret} rotating (version {version})",
        )
