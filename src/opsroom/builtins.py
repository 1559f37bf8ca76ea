"""Built-in commands. They are ordinary catalog entries (``builtin=True``) that go through
the same parser and policy as everything else; only their execution is in-process here.

(DESIGN.md puts built-ins under ``commands/``; they live here because they need the engine,
and ``commands`` must not import the engine.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, Protocol

from opsroom.audit.chat import audit_command
from opsroom.clock import age as since
from opsroom.clock import elapsed as fmt_duration
from opsroom.core import ArgSpec, ArgType, CommandSpec, Context, Fields, Invocation, Message, Section
from opsroom.reporter import ICONS, tail
from opsroom.runs import store as run_store

if TYPE_CHECKING:
    from opsroom.actions import ActionRequest
    from opsroom.audit import AuditLog
    from opsroom.chat.base import ChatHub
    from opsroom.commands.catalog import Catalog
    from opsroom.core import Decision, Place, Principal
    from opsroom.guardrails.holds import Guardrails
    from opsroom.policy.engine import PolicyEngine
    from opsroom.runs.service import RunService
    from opsroom.store import Database


class HostParts(Protocol):
    @property
    def catalog(self) -> Catalog: ...

    @property
    def policy(self) -> PolicyEngine: ...


class CommandHost(Protocol):
    """What an in-process command's handler may use: the engine, seen through this."""

    db: Database
    audit: AuditLog
    chat: ChatHub
    runs: RunService
    demo: bool

    @property
    def parts(self) -> HostParts: ...

    @property
    def guardrails(self) -> Guardrails: ...

    async def cancel_run(self, run_id: int, principal: Principal, place: Place) -> Message: ...

    # for a plugin that hands a command to the pipeline later (a proposal, a runbook step)
    @property
    def engine_flags(self) -> Mapping[str, type]: ...

    async def dispatch(self, inv: Invocation, *, via: str = "") -> int | None: ...

    # for a plugin's buttons: a click is authorized like a typed command, a refusal audited
    def authorize_action(
        self, principal: Principal, action: str, args: Mapping[str, Any], place: Place
    ) -> Decision: ...

    async def audit_denied_click(self, req: ActionRequest, permission: str, decision: Decision) -> None: ...


# (host, invocation) -> the answer to post, or None when the handler answered itself: the one
# signature of every in-process command, opsroom's own and a plugin's.
BuiltinHandler = Callable[[CommandHost, Invocation], Awaitable[Message | None]]

BUILTIN_SPECS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "help",
        summary="List the commands you may run, or explain one",
        args=(ArgSpec("command", required=False, help="a command name"),),
        examples=("help", "help deploy"),
        builtin=True,
        read_only=True,
    ),
    CommandSpec(
        "runs",
        summary="Recent runs (add a command name or user to filter)",
        args=(ArgSpec("filter", required=False, help="command or user name"),),
        examples=("runs", "runs deploy"),
        builtin=True,
        read_only=True,
    ),
    CommandSpec(
        "run",
        summary="State and output tail of one run",
        args=(ArgSpec("id", ArgType.INT, min=1, help="run number"),),
        examples=("run 42",),
        builtin=True,
        read_only=True,
    ),
    CommandSpec(
        "cancel",
        summary="Cancel a queued or running run",
        args=(ArgSpec("id", ArgType.INT, min=1, help="run number"),),
        examples=("cancel 42",),
        builtin=True,
    ),
    CommandSpec(
        "audit",
        summary="Search the audit trail",
        args=(
            ArgSpec(
                "query",
                required=False,
                greedy=True,
                max_length=500,
                help="words, user:NAME, command:NAME, channel:#X, since …, until …",
            ),
        ),
        examples=("audit rollback since last tuesday", "audit user:bob since yesterday"),
        builtin=True,
        read_only=True,
    ),
    CommandSpec("whoami", summary="Who opsroom thinks you are, and your roles", builtin=True, read_only=True),
)


# Permissions policy checks that are not commands anyone types.
PERMISSION_SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("cancel-others", summary="Cancel a run someone else started", builtin=True),
    CommandSpec("audit-all", summary="See every audit entry, from every channel and DM", builtin=True),
)


async def cmd_help(engine: CommandHost, inv: Invocation) -> Message:
    from opsroom.commands.help import render_command_help, render_help

    catalog = engine.parts.catalog
    name = inv.args.get("command")
    if name:
        spec = catalog.get(str(name))
        if spec is None or not _may_run(engine, inv, spec):
            return Message.plain(f"There is no command `{name}` you may run. Try `help`.", "warning")
        return render_command_help(spec)
    message = render_help(catalog, lambda spec: _may_run(engine, inv, spec))
    if engine.demo:
        message = Message(
            message.text,
            message.blocks
            + (Context("🧪 This is the opsroom demo: commands act on a pretend inventory, nothing real changes."),),
            message.tone,
        )
    return message


def _may_run(engine: CommandHost, inv: Invocation, spec: CommandSpec) -> bool:
    """Help hides what you may not run. A command whose permission depends on argument
    values (e.g. only dev/staging) is shown when some value could be allowed."""
    policy = engine.parts.policy
    if hasattr(policy, "may_run_some"):
        return bool(policy.may_run_some(inv.principal, spec.name, inv.place))
    return bool(policy.decide(inv.principal, spec.name, {}, inv.place).allowed)


def _run_line(run: run_store.RunRow) -> str:
    icon = ICONS.get(run.state, "")
    duration = f" · {fmt_duration(run.duration)}" if run.duration is not None else ""
    return (
        f"{icon} #{run.id} `{run.raw_text[:80]}` — {run.state.value} · {run.user} · {since(run.created_at)}{duration}"
    )


async def cmd_runs(engine: CommandHost, inv: Invocation) -> Message:
    flt = inv.args.get("filter")
    with engine.db.read() as conn:
        runs = run_store.list_runs(
            conn,
            limit=15,
            command=flt if flt and engine.parts.catalog.get(flt) else None,
            user=flt if flt and not engine.parts.catalog.get(flt) else None,
        )
    if not runs:
        return Message.plain("No runs yet." if not flt else f"No runs match `{flt}`.")
    lines = "\n".join(_run_line(r) for r in runs)
    return Message(f"{len(runs)} recent runs", (Section(lines), Context("details: run <id>")))


async def cmd_run(engine: CommandHost, inv: Invocation) -> Message:
    run_id = int(inv.args["id"])
    with engine.db.read() as conn:
        run = run_store.get_run(conn, run_id)
    if run is None:
        return Message.plain(f"There is no run #{run_id}.", "warning")
    output = run.output
    live = engine.runs.live.get(run_id)
    if live is not None:
        output = "".join(live.output)
    hidden = _private_output(engine, inv, run)
    if hidden:
        output = ""
    fields = [
        ("state", run.state.value),
        ("by", run.user),
        ("where", run.channel_name or "a direct message"),
        ("started", run.started_at.strftime("%Y-%m-%d %H:%M:%S UTC") if run.started_at else "—"),
    ]
    if run.duration is not None:
        fields.append(("duration", fmt_duration(run.duration)))
    if run.exit_code is not None:
        fields.append(("exit code", str(run.exit_code)))
    blocks: list[Any] = [Section(f"{ICONS.get(run.state, '')} run #{run.id}: `{run.raw_text}`"), Fields(tuple(fields))]
    if run.error:
        blocks.append(Section(run.error))
    if output.strip():
        from opsroom.core import Code

        shown, cut = tail(output, 3000, 40)
        blocks.append(Code(shown))
        if cut or run.output_truncated:
            blocks.append(Context("showing the last lines; the whole output is kept in opsroom's database"))
    if hidden:
        blocks.append(Context(hidden))
    return Message(f"run #{run.id} {run.state.value}", tuple(blocks))


def _private_output(engine: CommandHost, inv: Invocation, run: run_store.RunRow) -> str | None:
    """``output: private`` commands show their output only in a DM, to those allowed."""
    from opsroom.guardrails.private import output_refusal

    roles = engine.guardrails.config.private_output_roles
    return output_refusal(engine.parts.catalog.get(run.command), run.user, inv.principal, inv.place, roles)


async def cmd_cancel(engine: CommandHost, inv: Invocation) -> Message:
    return await engine.cancel_run(int(inv.args["id"]), inv.principal, inv.place)


async def cmd_whoami(engine: CommandHost, inv: Invocation) -> Message:
    p = inv.principal
    roles = ", ".join(sorted(p.roles)) or "none"
    known = "" if p.known else " (not a configured user: you get only what everyone may do)"
    return Message.plain(f"You are *{p.name}*{known}. Roles: {roles}.")


BUILTIN_HANDLERS: dict[str, BuiltinHandler] = {
    "help": cmd_help,
    "runs": cmd_runs,
    "run": cmd_run,
    "cancel": cmd_cancel,
    "audit": audit_command,
    "whoami": cmd_whoami,
}
