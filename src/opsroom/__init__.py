"""opsroom: self-hosted ChatOps."""

from opsroom.lean_imports import defer_compression, defer_sqlite_drivers, import_structlog

__version__ = "0.1.0"

import_structlog()  # first, before any module imports structlog (see opsroom.lean_imports)
defer_compression()  # bz2 and lzma run on first use (see opsroom.lean_imports)
defer_sqlite_drivers()  # SQLAlchemy's aiosqlite and pysqlcipher dialects: the same
