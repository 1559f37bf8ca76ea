"""Structured logs (structlog): JSON lines when not on a terminal, readable lines when on one.

Libraries that log through the standard ``logging`` module (uvicorn, SQLAlchemy, httpx…)
go through the same renderer, so a log shipper sees one format."""

from __future__ import annotations

import logging
import sys

import structlog

from opsroom.policy import redaction

SHARED: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def redact_secrets(_logger: object, _name: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    """Every string in a log line (the message, its fields, an exception's text and traceback)
    through the one redactor: a runner that raises with a token in its message, or a library
    that logs a URL with a password, never puts it on stderr."""
    redactor = redaction.current()
    return {
        key: redactor.clean(value) if isinstance(value, (str, dict, list, tuple)) else value
        for key, value in event_dict.items()
    }


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    def handleError(self, record: logging.LogRecord) -> None:
        """A line that cannot be written (closed pipe, full disk): say so in one line.
        logging's default prints the raw message, its arguments and the exception being
        handled — unredacted — to stderr."""
        failure = sys.exc_info()[0]
        try:
            sys.stderr.write(
                f"opsroom: a log line could not be written ({failure.__name__ if failure else 'unknown error'})\n"
            )
        except Exception:  # noqa: S110 - nowhere left to report it
            pass


_SETUP: list[tuple[str, bool]] = []  # the last setup's (level, json): a child process logs the same way


def current_setup() -> tuple[str, bool]:
    """The level and format of the last :func:`setup` (info, and JSON off a terminal, before any)."""
    return _SETUP[-1] if _SETUP else ("info", not sys.stderr.isatty())


def setup(level: str = "info", *, json: bool | None = None) -> None:
    if json is None:
        json = not sys.stderr.isatty()
    _SETUP[:] = [(level, json)]
    numeric = getattr(logging, level.upper(), logging.INFO)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *SHARED,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = _Handler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_secrets,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in ("uvicorn.access", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
