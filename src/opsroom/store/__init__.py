"""Storage: SQLAlchemy Core tables, the engine, Alembic migrations."""

from opsroom.store.db import Database, create_db_engine, is_postgres, normalize_url
from opsroom.store.tables import metadata

__all__ = ["Database", "create_db_engine", "is_postgres", "metadata", "normalize_url"]
