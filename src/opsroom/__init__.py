"""opsroom: self-hosted ChatOps."""

from opsroom.lean_imports_oo import reexec_optimized

# ``opsroom run``: the server runs under ``-OO`` (no docstrings, ≈ 4 MiB less idle); this replaces
# the interpreter before anything else is imported (see opsroom.lean_imports_oo).
reexec_optimized()

from opsroom.lean_imports import (  # noqa: E402
    defer_compression,
    defer_http_client,
    defer_sqlite_drivers,
    import_structlog,
)

__version__ = "0.1.0"

import_structlog()  # first, before any module imports structlog (see opsroom.lean_imports)
defer_compression()  # bz2 and lzma run on first use (see opsroom.lean_imports)
defer_sqlite_drivers()  # SQLAlchemy's aiosqlite and pysqlcipher dialects: the same
defer_http_client()  # http.client: starlette reads one dict of it on an HTTPException
