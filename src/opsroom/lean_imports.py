"""Import structlog without the console extras opsroom never uses.

structlog's package ``__init__`` imports ``structlog.dev`` and ``structlog.tracebacks``, which
import rich's traceback and pretty-printer (and with them pygments, attrs and ≈ 60 modules,
≈ 3 MiB resident) and colorama whenever they are installed — and typer installs rich. opsroom
renders exceptions to plain text itself (``format_exc_info`` in ``opsroom.logs``, before any
renderer) and asks for ``ConsoleRenderer(colors=False)``, so neither the rich exception
formatter nor colorama is ever called. Hiding those modules while structlog is first imported
makes structlog fall back to its plain formatter; the modules stay importable afterwards."""

from __future__ import annotations

import sys

_EXTRAS = ("rich.traceback", "rich.pretty", "colorama", "better_exceptions")


def import_structlog() -> None:
    if "structlog" in sys.modules:  # someone imported it before opsroom: leave it as it is
        return
    hidden = [name for name in _EXTRAS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # "import name" raises ImportError
    try:
        import structlog  # noqa: F401
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
