"""Built-in commands of the guardrails: approve, deny, approvals, confirm, freeze, locks,
unlock. Ordinary catalog entries (``builtin=True``): the parser and the policy see them like
any other command, so ``policy.rules`` decides who may freeze or unlock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsroom.clock import age as since
from opsroom.core import ArgSpec, ArgType, CommandSpec, Context, Invocation, Message, ParseError, Section
from opsroom.guardrails import approvals as book
from opsroom.guardrails.freezes import parse_freeze
from opsroom.runs import store as run_store

if TYPE_CHECKING:
    from opsroom.builtins import CommandHost
    from opsroom.core import Place, Principal
    from opsroom.guardrails.holds import Guardrails

GUARDRAIL_SPECS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "approve",
        summary="Approve a run that waits for your approval",
        args=(ArgSpec("id", ArgType.INT, min=1, help="run number"),),
        examples=("approve 42",),
        builtin=True,
    ),
    CommandSpec(
        "deny",
        summary="Deny a run that waits for your approval",
        args=(
            ArgSpec("id", ArgType.INT, min=1, help="run number"),
            ArgSpec("reason", required=False, greedy=True, max_length=300, help="why"),
        ),
        examples=("deny 42 not during the sale",),
        builtin=True,
    ),
    CommandSpec(
        "approvals",
        summary="Runs waiting for your approval (and yours waiting for others)",
        builtin=True,
        read_only=True,
    ),
    CommandSpec(
        "confirm",
        summary="Confirm a run you asked for (some need the target typed)",
        args=(
            ArgSpec("id", ArgType.INT, min=1, help="run number"),
            ArgSpec(
                "text",
                required=False,
                greedy=True,
                max_length=200,
                help="the target name, when asked to type it",
            ),
        ),
        examples=("confirm 42", "confirm 42 payments"),
        builtin=True,
    ),
    CommandSpec(
        "freeze",
        summary="Change freezes: list them, switch one on or off",
        args=(
            ArgSpec(
                "words",
                required=False,
                greedy=True,
                max_length=300,
                help='on "NAME" until WHEN [for CMD,CMD] · off "NAME"',
            ),
        ),
        examples=(
            "freeze",
            'freeze on "release week" until friday',
            "freeze on hotfix for 2h for deploy",
            'freeze off "release week"',
        ),
        builtin=True,
    ),
    CommandSpec("locks", summary="Who holds which lock", builtin=True, read_only=True),
    CommandSpec(
        "unlock",
        summary="Release a lock (e.g. one left by a crashed run)",
        args=(ArgSpec("key", max_length=300, help="the lock key, as `locks` shows it"),),
        examples=("unlock deploy:payments:production",),
        builtin=True,
    ),
)


def _guardrails(engine: CommandHost) -> Guardrails:
    if engine.guardrails is None:
        raise RuntimeError("guardrails are not installed")
    return engine.guardrails


def _rest(inv: Invocation, skip: int) -> str:
    """The words after the command name and ``skip`` values, as typed (quotes kept): the
    parser's greedy argument loses the quoting that ``freeze on "release week"`` needs."""
    parts = inv.raw_text.split(None, 1 + skip)
    return parts[1 + skip] if len(parts) > 1 + skip else ""


async def cmd_approve(engine: CommandHost, inv: Invocation) -> Message | None:
    g = _guardrails(engine)
    return await g.approve(int(inv.args["id"]), inv.principal, inv.place)


async def cmd_deny(engine: CommandHost, inv: Invocation) -> Message | None:
    g = _guardrails(engine)
    reason = str(inv.args.get("reason") or "")
    return await g.deny(int(inv.args["id"]), inv.principal, inv.place, reason)


async def cmd_confirm(engine: CommandHost, inv: Invocation) -> Message | None:
    g = _guardrails(engine)
    typed = str(inv.args.get("text") or "")
    return await g.confirm(int(inv.args["id"]), inv.principal, inv.place, typed)


async def cmd_approvals(engine: CommandHost, inv: Invocation) -> Message:
    g = _guardrails(engine)
    theirs, mine = g.waiting_for(inv.principal)
    now = g.clock()
    if not theirs and not mine:
        return Message.plain("Nothing waits for your approval, and none of your runs is waiting.")
    blocks: list[Any] = []
    if theirs:
        lines = [
            f"🗳️ #{run.id} `{run.raw_text[:80]}` by {run.user} · {since(run.created_at)} · "
            f"expires in {book.remaining(hold, now)} → `approve {run.id}` / `deny {run.id} reason`"
            for hold, run in theirs
        ]
        blocks.append(Section(f"*Waiting for your approval ({len(theirs)})*\n" + "\n".join(lines)))
    if mine:
        lines = [
            f"{'❓' if hold.kind == 'confirmation' else '🗳️'} #{run.id} `{run.raw_text[:80]}` · "
            f"waiting for {hold.kind} · expires in {book.remaining(hold, now)}"
            for hold, run in mine
        ]
        blocks.append(Section(f"*Your runs that are waiting ({len(mine)})*\n" + "\n".join(lines)))
    return Message(f"{len(theirs)} waiting for you", tuple(blocks))


async def cmd_freeze(engine: CommandHost, inv: Invocation) -> Message:
    g = _guardrails(engine)
    try:
        return await freeze_from_chat(g, inv.principal, inv.place, _rest(inv, 0))
    except ParseError as exc:
        return Message.plain(str(exc), "warning")


async def freeze_from_chat(g: Guardrails, principal: Principal, place: Place, text: str) -> Message:
    """`freeze`, `freeze on "NAME" until WHEN [for CMD,…]`, `freeze off "NAME"`: a freeze switched
    on or off from chat is in the database (configured ones change in opsroom.yaml) and audited."""
    engine, now = g.engine, g.clock()
    request = parse_freeze(text, now, g.freezes.tz)
    tz = g.freezes.tz
    if request.action == "list":
        with engine.db.read() as conn:
            active = g.freezes.list_active(conn, now)
        if not active:
            return Message.plain("No change freeze is in force.")
        lines = [
            f"❄️ *{f.name}* until {f.until_text(tz)} — "
            f"{', '.join(cmds) if cmds else 'every command that changes something'}"
            f"{' · by ' + f.created_by if f.created_by else ' · from config'}"
            for f, cmds in active
        ]
        return Message(f"{len(active)} freezes in force", (Section("\n".join(lines)),))
    if request.action == "off":
        with engine.db.begin() as conn:
            lifted = g.freezes.lift(conn, request.name, principal.name, now)
            if lifted:
                g.audit_row(
                    conn,
                    principal.name,
                    "freeze.lifted",
                    f"freeze {request.name} lifted",
                    place=place,
                    command="freeze",
                )
        if not lifted:
            return Message.plain(
                f"No freeze named {request.name!r} was switched on from chat "
                "(configured freezes change in opsroom.yaml).",
                "warning",
            )
        return Message.plain(f"☀️ Freeze *{request.name}* lifted by {principal.label}.", "success")
    found = [(c, engine.parts.catalog.get(c)) for c in request.commands]
    unknown = [c for c, spec in found if spec is None]
    if unknown:
        return Message.plain(f"There is no command {', '.join(f'`{c}`' for c in unknown)}.", "warning")
    commands = [spec.name for _, spec in found if spec is not None]
    assert request.ends_at is not None
    with engine.db.begin() as conn:
        g.freezes.switch_on(conn, request.name, request.ends_at, commands, principal.name, now)
        until = request.ends_at.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")
        g.audit_row(
            conn,
            principal.name,
            "freeze.on",
            f"freeze {request.name} on until {until}",
            place=place,
            command="freeze",
            detail={"commands": commands, "until": request.ends_at.isoformat()},
        )
    covered = ", ".join(f"`{c}`" for c in commands) or "every command that changes something"
    return Message.plain(
        f"❄️ Freeze *{request.name}* is on until {until}: {covered} refused (break-glass overrides, loudly).",
        "warning",
    )


async def cmd_locks(engine: CommandHost, inv: Invocation) -> Message:
    with engine.db.read() as conn:
        held = run_store.list_locks(conn)
    if not held:
        return Message.plain("No locks are held.")
    lines = [
        f"🔒 `{lock.key}` — {lock.holder}{f' (run #{lock.run_id})' if lock.run_id else ''} · "
        f"since {lock.since.strftime('%Y-%m-%d %H:%M UTC')} ({since(lock.since)})"
        for lock in held
    ]
    return Message(
        f"{len(held)} locks held",
        (Section("\n".join(lines)), Context("release a stuck one with `unlock KEY` (if you may)")),
    )


async def cmd_unlock(engine: CommandHost, inv: Invocation) -> Message:
    key = str(inv.args["key"])
    with engine.db.begin() as conn:
        holder = run_store.lock_holder(conn, key)
        if holder is None:
            return Message.plain(f"No lock `{key}` is held (see `locks`).", "warning")
        run = run_store.get_run(conn, holder.run_id) if holder.run_id else None
        run_store.release_lock(conn, key)
        still = run is not None and run.state.value in ("running", "queued")
        engine.audit.append(
            conn,
            actor=inv.principal.name,
            action="lock.released",
            run_id=holder.run_id,
            command="unlock",
            platform=inv.place.platform,
            channel=inv.place.name,
            summary=f"{inv.principal.name} released lock {key} held by {holder.holder}",
            detail={"lock": key, "holder": holder.holder, "run_still_active": still},
        )
    warning = f" Run #{holder.run_id} is still {run.state.value}; check it." if still and run else ""
    return Message.plain(
        f"🔓 Released `{key}` (held by {holder.holder}{f', run #{holder.run_id}' if holder.run_id else ''}).{warning}",
        "warning" if warning else "success",
    )


GUARDRAIL_HANDLERS = {
    "approve": cmd_approve,
    "deny": cmd_deny,
    "approvals": cmd_approvals,
    "confirm": cmd_confirm,
    "freeze": cmd_freeze,
    "locks": cmd_locks,
    "unlock": cmd_unlock,
}
