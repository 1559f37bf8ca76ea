"""What the Jira, ServiceNow and GitHub Issues providers share on top of the common HTTP
client (opsroom.integrations.http): settings from the pydantic config, and turning a 404
into "no such ticket"."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from opsroom.config.tickets import _Remote
from opsroom.integrations.http import HttpSettings, IntegrationError, Secret
from opsroom.integrations.tickets.base import TicketNotFound

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
