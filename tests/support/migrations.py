"""Run one Alembic migration's ``upgrade`` or ``downgrade`` alone on a test database (the
tests that migrate down and up with data in the tables)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from alembic.migration import MigrationContext
from alembic.operations import Operations

from opsroom.store import Database
from opsroom.store.migrate import MIGRATIONS


def migration(filename: str) -> ModuleType:
    """The migration module ``versions/<filename>``, loaded from its file."""
    spec = importlib.util.spec_from_file_location(filename.removesuffix(".py"), MIGRATIONS / "versions" / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_step(db: Database, filename: str, step: str) -> None:
    """``step`` ("upgrade" or "downgrade") of that migration, in one transaction."""
    with db.engine.begin() as conn:
        with Operations.context(MigrationContext.configure(conn)):
            getattr(migration(filename), step)()
