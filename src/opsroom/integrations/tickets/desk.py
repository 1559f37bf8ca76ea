"""The configured ticket providers by name, built from the ``tickets:`` section.

Vendor modules are imported only when a provider of that type is configured, so the embedded
default loads nothing but the built-in store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from opsroom.config.tickets import TicketsConfig
from opsroom.core import ConfigError
from opsroom.integrations.tickets.base import ChangeProvider, NewTicket, Ticket, TicketError, TicketProvider
from opsroom.integrations.tickets.builtin import BuiltinTickets
from opsroom.policy import redaction
from opsroom.store import Database


class RedactingProvider:
    """A provider whose every written text (title, body, comment, resolution) goes through the
    redactor first: a ticket body is a sink like chat, whatever template or user filled it.
    Every ticket it opens is also noted in ``ticket_origins`` (what opened it, where), for the
    console's ticket pages."""

    def __init__(self, inner: TicketProvider, key: str = "", db: Database | None = None) -> None:
        self._inner = inner
        self._key = key or getattr(inner, "name", "")
        self._db = db

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def create(self, ticket: NewTicket) -> Ticket:
        clean = redaction.current()
        made = await self._inner.create(dataclasses.replace(ticket, title=clean(ticket.title), body=clean(ticket.body)))
        if self._db is not None:
            from opsroom.integrations.tickets.origins import note

            note(self._db, self._key, made, ticket, clean)
        return made

    async def comment(self, ticket_id: str, text: str, *, author: str = "") -> None:
        await self._inner.comment(ticket_id, redaction.current()(text), author=author)

    async def close(self, ticket_id: str, *, resolution: str = "", author: str = "") -> Ticket:
        return await self._inner.close(ticket_id, resolution=redaction.current()(resolution), author=author)


EXTRAS_KEY = "tickets.desk"  # where the tickets plugin puts its desk in Services.extras


class TicketDesk:
    def __init__(
        self,
        providers: Mapping[str, TicketProvider],
        *,
        default: str = "builtin",
        changes: str = "builtin",
        db: Database | None = None,
    ) -> None:
        self.providers = dict(providers)
        self.default = default
        self.changes = changes
        self.db = db

    def get(self, name: str | None = None) -> TicketProvider:
        key = name or self.default
        try:
            return RedactingProvider(self.providers[key], key, self.db)
        except KeyError:
            known = ", ".join(sorted(self.providers))
            raise TicketError(f"no ticket provider named {key!r} (configured: {known})") from None

    def change_provider(self) -> ChangeProvider:
        provider = self.providers[self.changes]
        if not hasattr(provider, "get_change"):
            raise TicketError(f"ticket provider {self.changes!r} cannot check change tickets")
        return provider  # type: ignore[return-value]


def build_desk(config: TicketsConfig, db: Database, *, public_url: str = "") -> TicketDesk:
    providers: dict[str, TicketProvider] = {"builtin": BuiltinTickets(db, public_url=public_url)}
    for name, cfg in config.providers.items():
        if cfg.type == "builtin":
            continue
        if cfg.type == "jira":
            from opsroom.integrations.tickets.jira import JiraTickets

            providers[name] = JiraTickets(cfg, name=name)
        elif cfg.type == "servicenow":
            from opsroom.integrations.tickets.servicenow import ServiceNowTickets

            providers[name] = ServiceNowTickets(cfg, name=name)
        elif cfg.type == "github":
            from opsroom.integrations.tickets.github_issues import GitHubIssues

            providers[name] = GitHubIssues(cfg, name=name)
        else:  # pragma: no cover - the config model admits only the types above
            raise ConfigError(f"tickets.providers.{name}: unknown type {cfg.type!r}")
    return TicketDesk(providers, default=config.default, changes=config.changes, db=db)
