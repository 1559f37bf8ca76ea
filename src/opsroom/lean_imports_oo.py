"""``opsroom run`` runs its server in an interpreter started with ``-OO``: without docstrings.

Idle, the demo server holds ≈ 4 MiB of docstrings its imports brought (SQLAlchemy's, the
standard library's, pydantic's, opsroom's own): strings loaded with each module's bytecode
and kept by its functions and classes, never read by a server. ``python -OO`` loads bytecode
compiled without them (``*.opt-2.pyc``) and also drops ``assert`` statements (opsroom's narrow
types for mypy; none decides behaviour). So when the process's own command line is
``opsroom run`` (the console script or ``python -m opsroom.cli``), ``import opsroom`` replaces
the interpreter, before anything heavy is imported (≈ 15 ms: a bare interpreter's start), by
the same command line with ``-OO`` added (``os.execv``: the same process id, signals, stdin
and stdout). docs/performance.md, "Wave 13 — rss12".

It does not, and the server runs as before, when:

- ``OPSROOM_OPTIMIZE=0`` is set (the opt-out; docs/install.md),
- the interpreter already runs with ``-OO`` (or ``PYTHONOPTIMIZE=2``), or is not CPython on
  a POSIX system (elsewhere ``exec`` starts a second process instead of replacing this one),
- help is asked for (``opsroom run --help`` shows ``run``'s docstring),
- the ``-OO`` bytecode is neither there nor writable (``PYTHONDONTWRITEBYTECODE``, or a
  read-only install that was not compiled with ``python -OO -m compileall``): every start
  would compile ≈ 880 modules (seconds). The container image compiles it at build time.
"""

from __future__ import annotations

import os
import sys

OPT_OUT = "OPSROOM_OPTIMIZE"
# A module of each place the server's bytecode comes from: the standard library, the
# site-packages, opsroom. If any has neither its -OO bytecode nor a folder to write it in,
# the others are assumed the same.
PROBES = ("asyncio", "sqlalchemy", "opsroom")


def server_command_line(argv: list[str], orig_argv: list[str]) -> bool:
    """True when this interpreter runs ``opsroom run …`` (not its help): the console script
    (``argv[0]`` named opsroom) or ``python -m opsroom.cli`` (while ``opsroom`` is imported
    for ``-m``, ``argv[0]`` is ``"-m"``; the original command line names the module)."""
    name = os.path.basename(argv[0]) if argv else ""
    if name in ("opsroom", "opsroom.exe"):
        args = argv[1:]
    elif name == "-m" and "-m" in orig_argv[:-1] and orig_argv[orig_argv.index("-m") + 1] == "opsroom.cli":
        args = orig_argv[orig_argv.index("-m") + 2 :]
    else:
        return False
    return args[:1] == ["run"] and not {"--help", "-h"} & set(args)


def optimized_bytecode_ready(probes: tuple[str, ...] = PROBES) -> bool:
    """True when ``-OO`` bytecode is there, or can be written, next to each probe's source."""
    import importlib.util

    for name in probes:
        spec = importlib.util.find_spec(name)  # finds, does not import
        source = spec.origin if spec is not None else None
        if not source or not source.endswith(".py"):
            return False
        cached = importlib.util.cache_from_source(source, optimization=2)
        if os.path.exists(cached):
            continue
        if sys.dont_write_bytecode or not _can_create(os.path.dirname(cached)):
            return False
    return True


def _can_create(folder: str) -> bool:
    """The folder exists and is writable, or its nearest existing parent is (``__pycache__``,
    or a ``PYTHONPYCACHEPREFIX`` tree, is made on the first write)."""
    while not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            return False
        folder = parent
    return os.access(folder, os.W_OK)


def optimized_command(executable: str, orig_argv: list[str]) -> list[str]:
    """The same command line with ``-OO`` after the interpreter (its other flags kept)."""
    return [executable, "-OO", *orig_argv[1:]]


def reexec_optimized() -> None:
    """Replace this interpreter by the same ``opsroom run`` under ``-OO`` (see above); returns
    only when that is not done."""
    if (
        os.environ.get(OPT_OUT, "").strip().lower() in ("0", "no", "false", "off")
        or sys.flags.optimize >= 2
        or os.name != "posix"
        or sys.implementation.name != "cpython"
        or not sys.executable
        or not server_command_line(sys.argv, sys.orig_argv)
        or not optimized_bytecode_ready()
    ):
        return
    for stream in (sys.stdout, sys.stderr):  # nothing written yet, but exec drops a buffer
        if stream is not None:
            stream.flush()
    os.execv(sys.executable, optimized_command(sys.executable, sys.orig_argv))  # noqa: S606  # no shell: an argv list
