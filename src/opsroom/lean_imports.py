"""Import structlog, uvicorn and prometheus_client without parts ``opsroom run`` never uses.

structlog's package ``__init__`` imports ``structlog.dev`` and ``structlog.tracebacks``, which
import rich's traceback and pretty-printer (and with them pygments, attrs and ≈ 60 modules,
≈ 3 MiB resident) and colorama whenever they are installed — and typer installs rich. opsroom
renders exceptions to plain text itself (``format_exc_info`` in ``opsroom.logs``, before any
renderer) and asks for ``ConsoleRenderer(colors=False)``, so neither the rich exception
formatter nor colorama is ever called. Hiding those modules while the package is first
imported makes it take its fallback; the modules stay importable afterwards.

uvicorn's package ``__init__`` imports its command line (``uvicorn.main``): click (12 modules),
the reload and worker supervisors with multiprocessing (≈ 25 modules), ≈ 1.5 MiB resident in
all, and the ``--reload`` supervisor loads watchfiles (a Rust extension, 6 modules, ≈ 1 MiB).
``opsroom run`` uses only ``uvicorn.config.Config`` and ``uvicorn.server.Server``; it never
reloads or forks that way (``opsroom reload`` re-reads the config in process). So the package
is set up without running its ``__init__``: its submodules import as usual, and the names the
``__init__`` would export (``uvicorn.run``, ``uvicorn.Config``, …) are imported on first use.

prometheus_client's package ``__init__`` imports its exposition module, which imports an HTTP
server, a WSGI server and an HTTP client for pushing (http.server, wsgiref, urllib.request,
html.entities: ≈ 20 modules, ≈ 1 MiB). opsroom registers metrics at start-up and formats them
only when /metrics is scraped, so the package is set up with its registry, its metric types
and the default collectors (process, platform, GC: what the ``__init__`` registers), and the
exposition is imported by the first scrape (``opsroom.metrics.exposition``).

uvicorn's ``config`` module imports ``logging.config`` at the top (with it
``logging.handlers``, ``socketserver`` and ``queue``: ≈ 0.4 MiB resident) for one thing: applying
a ``log_config``. ``opsroom run`` passes ``log_config=None`` (opsroom configures logging itself,
``opsroom.logs``), so that module is imported lazily (``import_lazily``): the name exists, and the
module runs the first time one of its names is read.

cedarpy's package ``__init__`` imports ``cedarpy.pst``, typed syntax-tree nodes for
``policies_to_pst`` (≈ 120 dataclasses: ≈ 0.4 MiB resident, 13 ms), which opsroom never calls.
``opsroom.policy`` defers that module (``defer_submodule``) before any of its modules imports
cedarpy: ``cedarpy.pst`` exists and runs when one of its names is first read.

The same for what a package's ``__init__`` imports as a module and opsroom never uses:
structlog's deprecated ``threadlocal`` module (it loads greenlet, a C++ extension: with
libstdc++ ≈ 1 MiB resident), and msgspec's
``inspect`` (type introspection for its JSON schemas, ≈ 0.15 MiB; ``opsroom.alerts`` defers it
before its fast path imports msgspec).

Both packages are set up the same way: the package module exists with its ``__path__`` (its
submodules import as usual) and a module ``__getattr__`` (PEP 562) supplies what its
``__init__`` exports on first use, so other code that asks for ``uvicorn.run`` or
``prometheus_client.generate_latest`` still gets it."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

STRUCTLOG_EXTRAS = ("rich.console", "rich.traceback", "rich.pretty", "colorama", "better_exceptions")
UVICORN_EXTRAS = ("watchfiles",)
STRUCTLOG_DEFERRED = ("threadlocal",)  # deprecated; imported by its __init__, loads greenlet


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
    for name in STRUCTLOG_DEFERRED:
        defer_submodule("structlog", name)
    import_without("structlog", STRUCTLOG_EXTRAS)


def import_uvicorn() -> ModuleType:
    """The ``uvicorn`` package without its command line (see above); unless already imported."""
    if "uvicorn" in sys.modules:
        return sys.modules["uvicorn"]
    spec = importlib.util.find_spec("uvicorn")
    if spec is None or spec.loader is None:
        raise ImportError("uvicorn is not installed", name="uvicorn")
    package = importlib.util.module_from_spec(spec)  # __path__ set: its submodules import
    package.__getattr__ = _uvicorn_export  # type: ignore[method-assign]  # PEP 562, on first use
    sys.modules["uvicorn"] = package
    import_lazily("logging.config")  # uvicorn.config imports it for log_config only (see above)
    return package


def import_lazily(name: str) -> ModuleType:
    """``import name``, but the module's code runs when something first reads one of the names
    it defines (PEP 562, as for the packages above); unless it is imported already. (The
    standard library's ``LazyLoader`` would not stay lazy: Python 3.11's import statement reads
    ``__spec__`` of a module already imported, and any read runs such a module.)"""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"{name} is not installed", name=name)
    module = _run_on_first_use(spec)
    parent, _, child = name.rpartition(".")
    if parent:  # as ``import logging.config`` would: ``logging.config`` names the module
        setattr(sys.modules[parent], child, module)
    return module


def defer_sqlite_drivers() -> None:
    """SQLAlchemy's SQLite package imports every SQLite driver's dialect: aiosqlite's (with
    SQLAlchemy's asyncio connector) and pysqlcipher's, ≈ 0.15 MiB an ``opsroom run`` keeps
    though it only ever uses pysqlite's. They run when a URL names them (SQLAlchemy's dialect
    registry reads the module's ``dialect``), or when anything else reads one of their names."""
    for name in ("aiosqlite", "pysqlcipher"):
        defer_submodule("sqlalchemy.dialects.sqlite", name)


def defer_compression() -> None:
    """bz2 and lzma (C extensions with their system libraries, ≈ 0.25 MiB resident): shutil,
    which typer imports, and zipfile import them only to know whether they can compress that
    way, and call them when an archive is written or read, which opsroom run never does."""
    for name in ("bz2", "lzma"):
        # only where the extension exists: without it the import must fail now, as it would
        if importlib.util.find_spec(f"_{name}") is not None:
            import_lazily(name)


def defer_http_client() -> None:
    """``http.client`` (an HTTP/1.1 client, with ``email.parser``'s feed parser: ≈ 0.4 MiB
    resident) is imported by starlette for one dict, ``responses`` (a status's reason phrase),
    read when an ``HTTPException`` is made without a detail; nothing else in a server uses it.
    It runs then (or when anyone else reads one of its names)."""
    import_lazily("http.client")


def defer_submodule(package: str, name: str) -> None:
    """Make ``package.name`` run on first use when ``package`` imports it, without importing
    ``package`` or its parents now (``find_spec`` of a submodule would). Nothing if either is
    imported already or not installed."""
    full = f"{package}.{name}"
    if package in sys.modules or full in sys.modules:
        return
    top, *inner = package.split(".")
    parent = importlib.util.find_spec(top)  # a top-level package: found, not imported
    for depth in range(len(inner)):  # a package inside it: looked up in its folder, not imported
        if parent is None or parent.submodule_search_locations is None:
            return
        dotted = ".".join([top, *inner[: depth + 1]])
        parent = importlib.machinery.PathFinder.find_spec(dotted, list(parent.submodule_search_locations))
    if parent is None or parent.submodule_search_locations is None:
        return
    spec = importlib.machinery.PathFinder.find_spec(full, list(parent.submodule_search_locations))
    if spec is not None and spec.loader is not None:
        _run_on_first_use(spec)  # the package's ``from package import name`` finds it there


def _run_on_first_use(spec: importlib.machinery.ModuleSpec) -> ModuleType:
    """The module of ``spec`` in ``sys.modules``, its code run when a name is first read.
    Like an import: one thread runs it while another that asks waits, a failure is raised
    (and raised again on the next use), and a module-level ``__getattr__`` of its own works."""
    module = importlib.util.module_from_spec(spec)  # __spec__, __name__, __file__ are set
    loader = spec.loader
    assert loader is not None
    lock = threading.RLock()
    ran: list[bool] = []

    def load(attr: str) -> Any:
        if attr.startswith("__") and attr != "__all__":  # the import system's probes
            raise AttributeError(f"module {spec.name!r} has no attribute {attr!r}")
        with lock:
            if not ran:
                ran.append(True)  # a lookup from the module's own code finds it half-run
                try:
                    loader.exec_module(module)
                except BaseException:
                    ran.clear()
                    raise
                if vars(module).get("__getattr__") is load:
                    del module.__getattr__
        if attr in vars(module):
            return vars(module)[attr]
        own = vars(module).get("__getattr__")
        if own is not None and own is not load:
            return own(attr)
        raise AttributeError(f"module {spec.name!r} has no attribute {attr!r}")

    module.__getattr__ = load  # type: ignore[method-assign]
    sys.modules[spec.name] = module
    return module


def import_prometheus_client() -> ModuleType:
    """The ``prometheus_client`` package without its exposition (see above); any other name
    asked of the package runs its real ``__init__`` then. Unless already imported."""
    if "prometheus_client" in sys.modules:
        return sys.modules["prometheus_client"]
    spec = importlib.util.find_spec("prometheus_client")
    if spec is None or spec.loader is None:
        raise ImportError("prometheus_client is not installed", name="prometheus_client")
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def export(name: str) -> Any:
        # a submodule (``from . import values`` asks the package first) imports as usual
        if name.startswith("__") or importlib.util.find_spec(f"prometheus_client.{name}") is not None:
            raise AttributeError(name)
        if package.__dict__.pop("__getattr__", None) is not None:  # once; the real __init__
            loader.exec_module(package)  # defines every name it exports
        return getattr(package, name)

    package.__getattr__ = export  # type: ignore[method-assign]
    sys.modules["prometheus_client"] = package
    # the default collectors register themselves in REGISTRY as the __init__ would have them
    for name in ("registry", "metrics", "gc_collector", "platform_collector", "process_collector"):
        importlib.import_module(f"prometheus_client.{name}")
    return package


def _uvicorn_export(name: str) -> Any:
    """What ``uvicorn/__init__.py`` exports, imported when someone asks for it."""
    if name == "__version__":
        from uvicorn._version import __version__

        return __version__
    if name == "Config":  # what uvicorn's own modules import from the package (lifespan/on.py)
        from uvicorn.config import Config

        return Config
    if name in ("main", "run", "Server"):
        main = import_without("uvicorn.main", UVICORN_EXTRAS)
        package = sys.modules["uvicorn"]
        for export in ("main", "run", "Server"):  # as the __init__ has them: main is the function
            setattr(package, export, getattr(main, export))
        return getattr(main, name)
    raise AttributeError(f"module 'uvicorn' has no attribute {name!r}")
