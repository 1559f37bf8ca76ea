"""opsroom's one exception tree. Every exception class under ``opsroom`` derives from
``OpsroomError`` (tests/unit/architecture/test_errors.py), through one of four kinds:

- ``Refusal``: what a person sent (a command, a click, a request body, a chat message) is not
  acceptable; nothing changed, and ``str(err)`` is the sentence to show them.
- ``ConfigError``: opsroom.yaml, a file it names, or content it reads (runbooks, templates)
  is wrong; the message names the file, line or key when known.
- ``IntegrationError``: a vendor or another system (a ticket tracker, a cloud, a database, a
  chat platform's API, an AI service) failed or refused; ``str(err)`` names the vendor and
  what we tried, never a credential.
- ``InternalError``: a broken invariant (a bug, or someone writing around opsroom) — never
  the user's mistake.

A few classes also keep a standard base (``ValueError``, ``RuntimeError``) where validators
or callers rely on it (pydantic turns a ``ValueError`` into a config error message).

This module imports nothing of ours, so every layer (``core`` included) may use it.
"""

from __future__ import annotations

__all__ = ["ConfigError", "IntegrationError", "InternalError", "OpsroomError", "ParseError", "Refusal"]


class OpsroomError(Exception):
    """Base class: ``str(err)`` is safe and useful to show in chat."""


class Refusal(OpsroomError):
    """The request is not acceptable as sent; nothing was changed."""


class ParseError(Refusal):
    """The typed text is not a valid command; nothing was changed."""

    def __init__(self, message: str, *, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.suggestion = suggestion


class ConfigError(OpsroomError):
    """opsroom.yaml (or a file it includes) is invalid; names file, line and key when known."""


class IntegrationError(OpsroomError):
    """A provider call failed. ``str(err)`` is safe for chat: it names the vendor, what we
    were trying to do and the status, never a credential."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class InternalError(OpsroomError):
    """An invariant does not hold: a bug, or a write that went around opsroom."""
