"""What a signed-in person may see: runs (by channel membership), run output (private
commands), and the commands the palette offers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsroom.commands.lists import ListUnavailable
from opsroom.core import ArgType, CommandSpec, Place, Principal
from opsroom.guardrails.private import output_refusal
from opsroom.runs import store as run_store
from opsroom.web.context import CONSOLE_PLACE

if TYPE_CHECKING:
    from opsroom.app import System


def _channel_members(config: Any, name: str) -> list[list[str]] | None:
    """The member lists of every configured channel with this name (any platform); None
    when no channel by that name is configured."""
    found = [list(c.members) for c in config.channels if c.name == name or "#" + c.name.lstrip("#") == name]
    return found or None


def _admits(members: list[str], principal: Principal) -> bool:
    if not members:
        return True
    return principal.name in members or any(m.startswith("role:") and m[5:] in principal.roles for m in members)


def run_visible(config: Any, principal: Principal, run: run_store.RunRow) -> bool:
    """Your own runs; runs in channels you belong to; runs in channels opsroom has no
    membership list for. Never someone else's direct-message runs."""
    if run.user == principal.name:
        return True
    if run.channel_name == "dm":
        return False
    lists = _channel_members(config, run.channel_name)
    if lists is None:
        return principal.known
    return any(_admits(m, principal) for m in lists)


def run_links(system: System, conn: Any, run: run_store.RunRow) -> dict[str, Any]:
    """What a run's console page links to: its chat message (web chat permalink), the alert
    whose card's button started it (it ran in the card's thread), the tickets it opened."""
    from sqlalchemy import select

    from opsroom.alerts.tables import alert_groups
    from opsroom.integrations.tickets import origins
    from opsroom.web.tickets import from_origin, provider_words

    message = ""
    if run.platform == "web" and (run.progress_message_id or run.thread):
        root = run.thread or run.progress_message_id
        message = f"/chat/{run.channel}?thread={root}#m{run.progress_message_id or root}"
    alert = None
    if run.thread:
        alert = conn.execute(
            select(alert_groups.c.id, alert_groups.c.title).where(
                alert_groups.c.platform == run.platform,
                alert_groups.c.channel == run.channel,
                alert_groups.c.message_id == run.thread,
            )
        ).first()
    words = provider_words(system)
    opened = [from_origin(t, words) for t in origins.opened_by(conn, "run", [str(run.id)])]
    return {"chat_link": message, "alert": alert, "tickets": opened}


def output_hidden(system: System, principal: Principal, run: run_store.RunRow) -> str | None:
    """Why the output of a run is withheld from this person (private commands); None if shown."""
    spec = system.engine.parts.catalog.get(run.command)
    return output_refusal(spec, run.user, principal, CONSOLE_PLACE, system.config.guardrails.private_output_roles)


def visible_runs(
    system: System, principal: Principal, *, limit: int = 50, before_id: int | None = None, **filters: Any
) -> tuple[list[run_store.RunRow], int | None]:
    """Newest first, at most ``limit`` runs this person may see, and the cursor for the next
    page (None at the end)."""
    out: list[run_store.RunRow] = []
    cursor = before_id
    for _ in range(20):  # bounded: at most 20 batches scanned per page
        with system.db.read() as conn:
            batch = run_store.list_runs(conn, limit=limit * 2, before_id=cursor, **filters)
        for run in batch:
            if run_visible(system.config, principal, run):
                out.append(run)
                if len(out) == limit:
                    return out, run.id
        if len(batch) < limit * 2:
            return out, None
        cursor = batch[-1].id
    return out, cursor


def may_run(system: System, principal: Principal, spec: CommandSpec) -> bool:
    """Could this person run the command with some arguments? (The palette and help hide
    what they may not run; a rule limited to some argument values counts.)"""
    policy = system.engine.parts.policy
    if hasattr(policy, "may_run_some"):
        return bool(policy.may_run_some(principal, spec.name, CONSOLE_PLACE))
    if policy.decide(principal, spec.name, {}, CONSOLE_PLACE).allowed:
        return True
    for arg in spec.args:
        if arg.type is ArgType.ENUM:
            for value in arg.values:
                if policy.decide(principal, spec.name, {arg.name: value}, CONSOLE_PLACE).allowed:
                    return True
    return False


def allowed_values(
    system: System, principal: Principal, spec: CommandSpec, arg: str, values: list[str], place: Place
) -> list[str]:
    """The values of one argument this person may use here. A value is dropped only when
    policy tells values apart (some allowed with this argument alone, this one denied): a
    rule that needs the other arguments too leaves the list whole rather than empty."""
    policy = system.engine.parts.policy
    verdicts = [(v, policy.decide(principal, spec.name, {arg: v}, place).allowed) for v in values[:50]]
    if not any(ok for _v, ok in verdicts) or all(ok for _v, ok in verdicts):
        return values
    return [v for v, ok in verdicts if ok]


def palette(system: System, principal: Principal, place: Place = CONSOLE_PLACE) -> list[dict[str, Any]]:
    """The commands this person may run, with the argument values they may use in ``place``,
    for the ``/`` palette."""
    from opsroom.commands.help import usage

    catalog = system.engine.parts.catalog
    out: list[dict[str, Any]] = []
    for spec in catalog:
        if not may_run(system, principal, spec):
            continue
        args = []
        for arg in spec.args:
            values: list[str] = list(arg.values)
            if arg.type is ArgType.CHOICE and arg.choices_from in catalog.lists:
                try:
                    values = [str(v) for v in catalog.lists.get(arg.choices_from)][:50]
                except ListUnavailable:  # the palette must open even if a list is down
                    values = []
            if values:
                values = allowed_values(system, principal, spec, arg.name, values, place)
            args.append(
                {
                    "name": arg.name,
                    "type": arg.type.value,
                    "required": arg.required,
                    "help": arg.help,
                    "values": values,
                }
            )
        out.append(
            {
                "name": spec.name,
                "summary": spec.summary,
                "usage": usage(spec),
                "examples": list(spec.examples),
                "args": args,
            }
        )
    return out
