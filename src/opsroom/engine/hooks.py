"""After a run ends: its metrics, then the command's hooks (a chained command through the
whole pipeline, or a provider action), each on the record; a failing hook is reported,
never fatal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from opsroom import metrics
from opsroom.core import ConfigError, HookContext, Invocation, Message, MessageRef, RunState
from opsroom.runs.service import RunOutcome

if TYPE_CHECKING:
    from opsroom.engine.core import Engine

log = structlog.get_logger("opsroom.engine")


async def on_run_finished(
    engine: Engine, run_id: int, outcome: RunOutcome, inv: Invocation, ref: MessageRef | None = None
) -> None:
    """Metrics, then the command's hooks (another command, or a provider action)."""
    metrics.labelled(metrics.COMMANDS, inv.command.name, outcome.state.value).inc()
    metrics.labelled(metrics.RUN_SECONDS, inv.command.name).observe(outcome.duration)
    if inv.flags.get("dry_run"):
        return
    hooks = (
        inv.command.on_success
        if outcome.state == RunState.SUCCEEDED
        else (inv.command.on_failure if outcome.state in (RunState.FAILED, RunState.TIMED_OUT) else ())
    )
    for hook in hooks:
        await run_hook(engine, run_id, outcome, inv, hook, ref)


async def run_hook(
    engine: Engine, run_id: int, outcome: RunOutcome, inv: Invocation, hook: Any, ref: MessageRef | None
) -> None:
    from opsroom.commands.parser import parse

    thread_place = ref.thread_place if ref is not None else inv.place
    audit_base: dict[str, Any] = {
        "platform": inv.place.platform,
        "channel": inv.place.name,
        "command": inv.command.name,
    }
    try:
        if hook.command:
            text = hook.command.format_map({k: str(v) for k, v in inv.args.items()})
            chained = parse(text, engine.parts.catalog, inv.principal, inv.place, engine_flags=engine.engine_flags)
            with engine.db.begin() as conn:
                engine.audit.append(
                    conn,
                    actor=inv.principal.name,
                    action="hook",
                    run_id=run_id,
                    summary=f"hook: chained `{chained.canonical()}`",
                    detail={"hook": "command", "text": text},
                    **audit_base,
                )
            await engine.dispatch(chained, via=f"hook of run #{run_id}")
            return
        audit_ids = tuple(e.id for e in engine.audit.for_run(run_id))
        factory = engine.parts.actions.get(hook.action)
        if factory is None:
            known = ", ".join(sorted(engine.parts.actions)) or "none"
            raise ConfigError(f"unknown hook action {hook.action!r} (known: {known})")
        action = factory(hook.options)
        result = await action(
            HookContext(
                run_id=run_id,
                command=inv.command.name,
                args=inv.shown_args(),
                user=inv.principal.name,
                platform=inv.place.platform,
                channel=inv.place.name,
                outcome=outcome.state.value,
                exit_code=outcome.exit_code,
                output_tail=outcome.output[-2000:],
                thread_link=engine.thread_link(inv.place, ref),
                audit_ids=audit_ids,
                raw_text=inv.shown_text(),
                options=dict(hook.options),
            )
        )
        with engine.db.begin() as conn:
            engine.audit.append(
                conn,
                actor=inv.principal.name,
                action="hook",
                run_id=run_id,
                summary=f"hook {hook.action}: {result}",
                detail={"hook": hook.action, "result": result},
                **audit_base,
            )
        await engine.reply(thread_place, Message.plain(f"↪ {result}", "info"))
    except Exception as exc:  # a failing hook is reported, never fatal
        log.exception("hook_failed", run_id=run_id)
        message, _ = engine.redactor(str(exc))
        with engine.db.begin() as conn:
            engine.audit.append(
                conn,
                actor=inv.principal.name,
                action="hook.failed",
                run_id=run_id,
                summary=f"hook failed: {message}",
                detail={"hook": hook.action or hook.command},
                **audit_base,
            )
        await engine.reply(thread_place, Message.plain(f"↪ hook failed: {message}", "warning"))
