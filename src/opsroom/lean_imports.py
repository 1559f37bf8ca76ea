"""Import structlog and uvicorn without optional parts opsroom never uses.

structlog's package ``__init__`` imports ``structlog.dev`` and ``structlog.tracebacks``, which
import rich's traceback and pretty-printer (and with them pygments, attrs and ≈ 60 modules,
≈ 3 MiB resident) and colorama whenever they are installed — and typer installs rich. opsroom
renders exceptions to plain text itself (``format_exc_info`` in ``opsroom.logs``, before any
renderer) and asks for ``ConsoleRenderer(colors=False)``, so neither the rich exception
formatter nor colorama is ever called.

uvicorn's package ``__init__`` imports its command line, whose ``--reload`` supervisor loads
watchfiles (a Rust extension and 6 modules, ≈ 1 MiB); ``opsroom run`` never reloads that way
(``opsroom reload`` re-reads the config in process), and without watchfiles uvicorn picks its
stat-based supervisor, which it would not use either.

Hiding those modules while the package is first imported makes it take its fallback; the
modules stay importable afterwards."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

STRUCTLOG_EXTRAS = ("rich.console", "rich.traceback", "rich.pretty", "colorama", "better_exceptions")
UVICORN_EXTRAS = ("watchfiles",)


def import_without(package: str, extras: tuple[str, ...]) -> ModuleType:
    """``import package`` as if ``extras`` were not installed (unless already imported)."""
    if package in sys.modules:  # imported before: leave it as it is
        return sys.modules[package]
    hidden = [name for name in extras if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # "import name" raises ImportError
    try:
        return importlib.import_module(package)
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def import_structlog() -> None:
    import_without("structlog", STRUCTLOG_EXTRAS)


def import_uvicorn() -> ModuleType:
    return import_without("uvicorn", UVICORN_EXTRAS)
