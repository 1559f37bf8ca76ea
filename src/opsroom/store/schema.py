"""Imports every module that defines tables on the shared metadata, so ``create_all`` and
Alembic's autogenerate see all of them. Add one import line per module that owns tables."""

from opsroom.store import tables  # noqa: F401
