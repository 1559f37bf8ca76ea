"""The ``aws`` plugin: the ``aws`` runner type (catalog commands name it), the sweeper that
deletes old access keys when their grace period ends, and ``key-deletions`` to list them.
boto3 is imported only when an AWS call is made, and the provider interface and the sweeper
only when an AWS environment is configured (a server without one never loads them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opsroom.config.cloud import AwsEnvironment, AwsSettings, KeyRotation
from opsroom.config.loader import LoadedConfig
from opsroom.core import ArgSpec, CommandSpec, ConfigError, Context, Fields, Invocation, Message, Runner, Section
from opsroom.plugins import Declaration, Extension, Live, PeriodicWork, Plugin

if TYPE_CHECKING:
    from opsroom.integrations.cloud.base import Bounds, CloudProvider

KEY_DELETIONS = CommandSpec(
    "key-deletions",
    summary="Old access keys opsroom will delete, and when",
    args=(ArgSpec("user", required=False, pattern=r"[\w+=,.@-]{1,64}", help="an IAM user"),),
    examples=("key-deletions", "key-deletions ci-deployer"),
    builtin=True,
    read_only=True,
)


def _environment(settings: AwsSettings, name: str) -> AwsEnvironment:
    env = settings.environments.get(name)
    if env is None:
        from opsroom.integrations.cloud.base import CloudError

        raise CloudError(
            f"no AWS environment named {name!r} (configured: {', '.join(sorted(settings.environments)) or 'none'})"
        )
    return env


def providers(settings: AwsSettings) -> Callable[[str], CloudProvider]:
    def build(environment: str) -> CloudProvider:
        from opsroom.integrations.cloud.aws import AwsProvider  # imports boto3

        return AwsProvider(environment, _environment(settings, environment))

    return build


def bounds(settings: AwsSettings) -> Callable[[str, str, str], Bounds]:
    def lookup(environment: str, kind: str, target: str) -> Bounds:
        from opsroom.integrations.cloud.base import Bounds, CloudError

        env = _environment(settings, environment)
        table = env.ecs_services if kind == "service" else env.autoscaling_groups
        found = table.get(target)
        if found is None:
            raise CloudError(
                f"no {kind} named {target!r} in {environment} (configured: {', '.join(sorted(table)) or 'none'})"
            )
        return Bounds(found.min, found.max)

    return lookup


def rotation(settings: AwsSettings) -> Callable[[str], KeyRotation]:
    def lookup(environment: str) -> KeyRotation:
        return _environment(settings, environment).key_rotation

    return lookup


def _declare(loaded: LoadedConfig) -> Declaration:
    settings = loaded.config.integrations.aws

    def factory(options: Mapping[str, Any]) -> Runner:
        if not settings.environments:
            raise ConfigError("aws runner: no environments under integrations.aws.environments")
        from opsroom.integrations.cloud.runner import CloudRunner

        return CloudRunner(
            "aws",
            options,
            providers(settings),
            bounds(settings),
            rotation(settings),
            poll_interval=settings.poll_interval,
        )

    commands = (KEY_DELETIONS,) if settings.environments else ()
    return Declaration(runner_types={"aws": factory}, commands=commands)


def _start(loaded: LoadedConfig, live: Live) -> Extension:
    settings = loaded.config.integrations.aws
    if not settings.environments:
        return Extension(name="aws")
    from opsroom.integrations.cloud.base import CloudError
    from opsroom.integrations.cloud.schedule import EXTRA, KeyDeletions, KeyDeletionSweeper

    build = providers(settings)

    def by_provider(provider: str, environment: str) -> CloudProvider:
        if provider != "aws":
            raise CloudError(f"no cloud provider {provider!r} is configured")
        return build(environment)

    deletions = KeyDeletions(live.db, live.audit, by_provider)

    async def list_deletions(_host: object, inv: Invocation) -> Message:
        user = str(inv.args.get("user") or "")
        items = [s for s in deletions.pending() if not user or s.user == user]
        if not items:
            return Message.plain("No old keys are waiting for deletion" + (f" for {user}." if user else "."))
        from opsroom.integrations.cloud.schedule import short

        blocks: list[Any] = [Section(f"*{len(items)} old key(s) waiting for deletion*")]
        for s in items[:20]:
            blocks.append(
                Fields(
                    (
                        ("user", f"{s.user} ({s.environment})"),
                        ("key", short(s.key_id)),
                        ("deleted at", f"{s.due_at:%Y-%m-%d %H:%M} UTC"),
                        ("tries", f"{s.attempts}" + (f" · {s.last_error[:80]}" if s.last_error else "")),
                    )
                )
            )
        if len(items) > 20:
            blocks.append(Context(f"and {len(items) - 20} more"))
        return Message(f"{len(items)} old keys waiting for deletion", tuple(blocks))

    sweeper = KeyDeletionSweeper(deletions, settings.sweep_interval)
    sweeper.leads = live.leads
    live.periodic["key-deletions"] = PeriodicWork(settings.sweep_interval, deletions.sweep)
    return Extension(
        name="aws",
        handlers={"key-deletions": list_deletions},
        services=[sweeper],
        extras={EXTRA: deletions},
    )


AWS_PLUGIN = Plugin("aws", _declare, _start)
