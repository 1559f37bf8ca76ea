"""The core steps of the pipeline, one small function each (see ``pipeline.ORDER``).

A step reads ``ctx`` and ``ctx.services``, notes what it found on ``ctx``, and returns a
``Stop`` (with the audit rows that explain it) or None. It never writes: the engine does,
in live mode only. These core steps await nothing, so they are plain functions: the
pipeline calls them without a coroutine each (``Pipeline.run`` takes both kinds).
"""

from __future__ import annotations

import time

from opsroom import metrics
from opsroom.commands.parser import extract, parse
from opsroom.core import Decision, ParseError
from opsroom.engine.pipeline import Step, StepContext, Stop
from opsroom.guardrails import breakglass
from opsroom.policy.requirements import APPROVAL, CONFIRMATION, command_requirements
from opsroom.runs import store as run_store


def route(ctx: StepContext) -> Stop | None:
    """Is the message for us at all? Ordinary conversation is neither answered nor recorded."""
    if ctx.inv is not None:
        return None  # already a command (a hook, a button)
    text = extract(ctx.text, addressed=ctx.addressed, bot_names=ctx.services.bot_names)
    if text is None:
        return Stop("ignored")
    ctx.text = text
    return None


def parse_command(ctx: StepContext) -> Stop | None:
    if ctx.inv is not None:
        return None
    try:
        ctx.inv = parse(
            ctx.text, ctx.services.catalog, ctx.principal, ctx.place, engine_flags=ctx.services.engine_flags
        )
    except ParseError as exc:
        record = ctx.record("parse_error", str(exc), detail={"text": ctx.services.redact(ctx.text)}, with_command=False)
        return Stop("error", str(exc), "warning", (record,))
    return None


def decide(ctx: StepContext) -> Decision:
    """Channels first (a command may be bound to some), then Cedar."""
    inv = ctx.invocation
    allowed_channels = inv.command.channels
    if allowed_channels and inv.place.name not in allowed_channels:
        where = ", ".join(allowed_channels)
        return Decision.deny(
            f"`{inv.command.name}` can only be run in {where}", (f"commands.{inv.command.name}.channels",)
        )
    started = time.perf_counter()
    decision = ctx.services.policy.decide(
        inv.principal, inv.command.name, inv.args, inv.place, None if ctx.live else ctx.now
    )
    metrics.DECISION_SECONDS.observe(time.perf_counter() - started)
    return decision


def authorize(ctx: StepContext) -> Stop | None:
    inv = ctx.invocation
    ctx.decision = decision = decide(ctx)
    if decision.allowed:
        return None
    return Stop(
        "deny",
        f"⛔ {decision.reason}",
        "denied",
        (
            ctx.record("command.received", ctx.services.redact(inv.shown_text()), detail=received(ctx)),
            ctx.record(
                "decision", f"denied: {decision.reason}", detail={"allowed": False, "rules": list(decision.rule_ids)}
            ),
        ),
    )


def received(ctx: StepContext) -> dict[str, str]:
    """The ``command.received`` detail: what was typed (cleaned) and what we understood."""
    inv = ctx.invocation
    out = {"text": ctx.services.redact(inv.shown_text()), "parsed": inv.canonical()}
    if ctx.via:
        out["via"] = ctx.via
    return out


def break_glass(ctx: StepContext) -> Stop | None:
    inv = ctx.invocation
    if breakglass.FLAG not in inv.flags:
        return None
    config = ctx.services.guardrails.config.break_glass
    why_not = breakglass.refusal(config, inv.principal, inv.flags[breakglass.FLAG])
    if why_not is not None:
        record = ctx.record(
            "break-glass.refused",
            f"break-glass refused: {why_not}",
            detail={"text": ctx.services.redact(inv.shown_text())},
        )
        return Stop("deny", f"⛔ {why_not}. Nothing was run.", "denied", (record,))
    ctx.break_glass = breakglass.reason_of(dict(inv.flags))
    return None


def freeze(ctx: StepContext) -> Stop | None:
    inv = ctx.invocation
    book = ctx.services.guardrails.freezes
    conn = ctx.conn()
    if conn is None:
        found = book.configured_for(inv.command, inv.args, ctx.now)
        ctx.notes.append("freezes switched on from chat: not checked (no database)")
    else:
        found = book.active_for(conn, inv.command, inv.args, ctx.now)
    if found is None:
        return None
    if ctx.break_glass is not None:
        ctx.freeze = found  # overridden, loudly (the engine announces it)
        return None
    until = found.until_text(book.tz)
    why = f" — {found.reason}" if found.reason else ""
    record = ctx.record(
        "freeze.denied",
        f"denied by freeze {found.name} until {until}",
        detail={"freeze": found.name, "until": until, "text": ctx.services.redact(inv.shown_text())},
    )
    ctx.freeze = found
    return Stop(
        "frozen",
        f"❄️ `{inv.command.name}` is frozen: *{found.name}* until {until}{why}. Nothing was run.",
        "denied",
        (record,),
    )


def rate_limit(ctx: StepContext) -> Stop | None:
    inv = ctx.invocation
    limiter = ctx.services.guardrails.limiter
    if not limiter.limits:
        return None
    conn = ctx.conn()
    if conn is None:
        ctx.notes.append("rate limits: not checked (no database)")
        return None
    changing = (
        [s.name for s in ctx.services.catalog if not s.read_only and not s.builtin]
        if limiter.names_every_change
        else []
    )
    limited = limiter.check(conn, inv.command, inv.principal, changing, ctx.now)
    if limited is None:
        return None
    record = ctx.record(
        "rate_limited",
        limited.text,
        detail={
            "retry_at": limited.retry_at.isoformat(),
            "limit": limited.limit.limit,
            "window": limited.limit.window_seconds,
            "per": limited.limit.per,
        },
    )
    return Stop("limited", limited.text, "warning", (record,))


def hold(ctx: StepContext) -> Stop | None:
    """What the run must wait for: confirmation by the requester, approvals. Dry runs need
    neither (they run nothing); break-glass skips approvals, never a confirmation."""
    inv = ctx.invocation
    if inv.flags.get("dry_run"):
        return None
    required = ctx.allowed.requires
    by_command = command_requirements(inv.command)  # cached per spec
    if not required and not by_command:  # most commands: nothing to wait for
        if ctx.break_glass is not None:
            ctx.overridden = []
        ctx.needs = []
        return None
    reqs = tuple(required) + by_command
    confirms = [r for r in reqs if r.kind == CONFIRMATION]
    approvals = [r for r in reqs if r.kind == APPROVAL]
    if ctx.break_glass is not None:
        ctx.overridden, approvals = approvals, []
    ctx.needs = confirms + approvals
    return None


def lock(ctx: StepContext) -> Stop | None:
    """The run's lock key. Live, the lock is taken together with the run row (so two racing
    replicas cannot both win); a check looks at who holds it now."""
    inv = ctx.invocation
    if not inv.command.lock or inv.flags.get("dry_run"):
        return None
    ctx.lock_key = inv.command.lock.format_map({k: str(v) for k, v in inv.args.items()})
    conn = None if ctx.live else ctx.conn()
    if conn is None:
        if not ctx.live:
            ctx.notes.append("locks: not checked (no database)")
        return None
    holder = run_store.lock_holder(conn, ctx.lock_key)
    if holder is None:
        return None
    return Stop("locked", lock_refusal(ctx.lock_key, holder), "warning")


def lock_refusal(key: str, holder: run_store.LockHolder) -> str:
    """What chat answers (and a check says) when the lock is taken."""
    by_run = f" (run #{holder.run_id})" if holder.run_id else ""
    return (
        f"🔒 `{key}` is held by {holder.holder}{by_run} since {holder.since.strftime('%H:%M UTC')}; "
        "try again when it is done."
    )


CORE_STEPS: tuple[Step, ...] = (
    Step("route", route, builtins=True),
    Step("parse", parse_command, builtins=True),
    Step("authorize", authorize, builtins=True),
    Step("break-glass", break_glass),
    Step("freeze", freeze),
    Step("rate limit", rate_limit),
    Step("hold", hold),
    Step("lock", lock),
)
