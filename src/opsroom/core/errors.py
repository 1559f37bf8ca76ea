"""Errors that carry a short message meant for the human who caused them."""

from __future__ import annotations


class OpsroomError(Exception):
    """Base class: ``str(err)`` is safe and useful to show in chat."""


class ParseError(OpsroomError):
    """The typed text is not a valid command; nothing was changed."""

    def __init__(self, message: str, *, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.suggestion = suggestion


class ConfigError(OpsroomError):
    """opsroom.yaml (or a file it includes) is invalid; names file, line and key when known."""
