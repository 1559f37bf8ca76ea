"""Hook actions ``ticket.open`` and ``ticket.comment``: after a command, open or update a
ticket from a template that says who ran what, with which arguments, how it ended, where the
conversation is and which audit records cover it.

    on_failure:
      - action: ticket.open
        options: {provider: desk, priority: p2, title: "disk check failed on {host}"}
    on_success:
      - action: ticket.comment
        options: {ticket: "{incident}", body: "{user} ran {command}: {outcome}"}

Placeholders: every argument of the command by name, plus ``{user}``, ``{command}``,
``{raw_text}``, ``{args}`` (``name=value …``), ``{outcome}``, ``{exit_code}``, ``{run_id}``,
``{channel}``, ``{platform}``, ``{thread_link}``, ``{audit_ids}``, ``{output_tail}``.
Values are inserted as text in one pass (an argument holding ``{user}`` stays that text).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from opsroom.core import ConfigError, HookContext
from opsroom.integrations.tickets.base import NewTicket, TicketError, check_priority
from opsroom.integrations.tickets.desk import TicketDesk
from opsroom.integrations.tickets.origins import provider_words
from opsroom.runs.registry import ActionFactory
from opsroom.runs.runners.templating import Template, TemplateError, arg_text, parse

DEFAULT_BODY = (
    "{user} ran `{raw_text}` in {channel} ({platform}).\n"
    "Outcome: {outcome} (exit code {exit_code})\n"
    "Arguments: {args}\n"
    "Run: #{run_id} · audit records: {audit_ids}\n"
    "Thread: {thread_link}\n"
    "\n"
    "Last output:\n"
    "{output_tail}\n"
)
DEFAULT_COMMENT = (
    "{user} ran `{raw_text}`: {outcome} (exit code {exit_code}). Run #{run_id}, audit {audit_ids}. {thread_link}"
)
_OPEN_OPTIONS = frozenset({"provider", "title", "body", "priority", "labels"})
_COMMENT_OPTIONS = frozenset({"provider", "ticket", "body"})
CONTEXT_NAMES = (
    "user",
    "command",
    "raw_text",
    "args",
    "outcome",
    "exit_code",
    "run_id",
    "channel",
    "platform",
    "thread_link",
    "audit_ids",
    "output_tail",
)


def template_values(ctx: HookContext) -> dict[str, Any]:
    """The values a hook template can use; the run's own facts win over an argument of the
    same name, so a template always says truthfully who ran what."""
    values: dict[str, Any] = dict(ctx.args)
    values.update(
        {
            "user": ctx.user,
            "command": ctx.command,
            "raw_text": ctx.raw_text,
            "args": " ".join(f"{k}={arg_text(k, ctx.args)}" for k in sorted(ctx.args)) or "(none)",
            "outcome": ctx.outcome,
            "exit_code": "-" if ctx.exit_code is None else str(ctx.exit_code),
            "run_id": str(ctx.run_id),
            "channel": ctx.channel,
            "platform": ctx.platform,
            "thread_link": ctx.thread_link or "(no thread)",
            "audit_ids": ", ".join(str(i) for i in ctx.audit_ids) or "(none)",
            "output_tail": ctx.output_tail.strip() or "(no output)",
        }
    )
    return values


def _template(options: Mapping[str, Any], key: str, default: str | None, action: str) -> Template:
    source = options.get(key, default)
    if source is None:
        raise ConfigError(f"hook {action}: option {key!r} is required")
    return parse(source, where=f"hook {action} option {key!r}")


def _check(options: Mapping[str, Any], known: frozenset[str], action: str) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"hook {action}: unknown option {unknown[0]!r} (known: {', '.join(sorted(known))})")


class OpenTicket:
    def __init__(self, desk: TicketDesk, options: Mapping[str, Any]) -> None:
        _check(options, _OPEN_OPTIONS, "ticket.open")
        self.desk = desk
        self.provider = options.get("provider")
        if self.provider is not None and self.provider not in desk.providers:
            raise ConfigError(
                f"hook ticket.open: no ticket provider {self.provider!r} "
                f"(configured: {', '.join(sorted(desk.providers))})"
            )
        self.title = _template(options, "title", None, "ticket.open")
        self.body = _template(options, "body", DEFAULT_BODY, "ticket.open")
        try:
            self.priority = check_priority(str(options.get("priority", "p3")))
        except TicketError as exc:
            raise ConfigError(f"hook ticket.open: {exc}") from None
        labels = options.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ConfigError("hook ticket.open: 'labels' must be a list of strings")
        self.labels = tuple(labels)

    async def __call__(self, ctx: HookContext) -> str:
        values = template_values(ctx)
        try:
            title, body = self.title.render(values), self.body.render(values)
        except TemplateError as exc:
            raise TicketError(f"ticket.open: {exc}") from None
        provider = self.desk.get(self.provider)
        ticket = await provider.create(
            NewTicket(
                title=title,
                body=body,
                priority=self.priority,
                author=ctx.user,
                thread_link=ctx.thread_link,
                labels=self.labels,
                # Names the run on the ticket (label / correlation field / marker), unique per open.
                dedup_key=f"run{ctx.run_id}-{uuid.uuid4().hex[:8]}",
                origin="run",
                origin_id=str(ctx.run_id),
                channel=ctx.channel,
            )
        )
        where = f": {ticket.url}" if ticket.url else ""
        return f"ticket {ticket.ref} opened ({provider_words(provider)}){where}"


class CommentTicket:
    def __init__(self, desk: TicketDesk, options: Mapping[str, Any]) -> None:
        _check(options, _COMMENT_OPTIONS, "ticket.comment")
        self.desk = desk
        self.provider = options.get("provider")
        if self.provider is not None and self.provider not in desk.providers:
            raise ConfigError(f"hook ticket.comment: no ticket provider {self.provider!r}")
        self.ticket = _template(options, "ticket", None, "ticket.comment")
        self.body = _template(options, "body", DEFAULT_COMMENT, "ticket.comment")

    async def __call__(self, ctx: HookContext) -> str:
        values = template_values(ctx)
        try:
            ticket_id, body = self.ticket.render(values).strip(), self.body.render(values)
        except TemplateError as exc:
            raise TicketError(f"ticket.comment: {exc}") from None
        if not ticket_id:
            raise TicketError("ticket.comment: no ticket to comment on (the ticket template is empty)")
        provider = self.desk.get(self.provider)
        await provider.comment(ticket_id, body, author=ctx.user)
        return f"commented on ticket {ticket_id} ({provider_words(provider)})"


def hook_actions(desk: TicketDesk) -> dict[str, ActionFactory]:
    """The hook actions of the tickets plugin: ``ticket.open`` and ``ticket.comment``."""
    return {
        "ticket.open": lambda options: OpenTicket(desk, options),
        "ticket.comment": lambda options: CommentTicket(desk, options),
    }
