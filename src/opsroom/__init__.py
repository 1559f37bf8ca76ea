"""opsroom: self-hosted ChatOps."""

from opsroom.lean_imports import import_structlog

__version__ = "0.1.0"

import_structlog()  # first, before any module imports structlog (see opsroom.lean_imports)
