"""What the Jira, ServiceNow and GitHub Issues providers share on top of the common HTTP
client (opsroom.integrations.http): settings from the pydantic config, turning a 404 into
"no such ticket", and creating a ticket at most once (a dedup key the provider can search
for, looked up when the create answer is lost; see opsroom.integrations.once)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from opsroom.config.tickets import _Remote
from opsroom.errors import IntegrationError
from opsroom.integrations.http import HttpSettings, Secret
from opsroom.integrations.once import start_once
from opsroom.integrations.tickets.base import NewTicket, TicketNotFound

T = TypeVar("T")


def http_settings(cfg: _Remote) -> HttpSettings:
    return HttpSettings(timeout=cfg.timeout, retries=cfg.retries, retry_backoff=cfg.retry_backoff)


def secret(env: str, file: str, label: str) -> Secret:
    return Secret(env=env, file=file, label=label)


async def not_found_as(call: Awaitable[T], message: str) -> T:
    """Await ``call``; a 404 becomes TicketNotFound(message)."""
    try:
        return await call
    except IntegrationError as exc:
        if exc.status == 404:
            raise TicketNotFound(message) from None
        raise


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""


def dedup_key(ticket: NewTicket) -> str:
    """The ticket's dedup key: the caller's (a run or audit id) or a fresh one for this call."""
    return ticket.dedup_key or uuid.uuid4().hex[:16]


def single_line(text: str, limit: int) -> str:
    """``text`` on one line (vendors refuse line breaks in titles), cut to ``limit``."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


async def create_once(
    post: Callable[[], Awaitable[T]], find: Callable[[], Awaitable[T | None]], cfg: _Remote, *, where: str
) -> T:
    """``post()`` once; when its answer is lost, ``find()`` the ticket by its dedup key for up
    to the provider's timeout instead of creating a second one."""
    started = await start_once(post, find, timeout=cfg.timeout, interval=min(1.0, cfg.timeout / 10), where=where)
    return started.handle
