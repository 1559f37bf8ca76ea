"""Alembic environment: runs on the connection opsroom hands it (see opsroom.store.migrate)."""

from alembic import context

import opsroom.store.schema  # noqa: F401  (registers every table)
from opsroom.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI by hand
    raise SystemExit("run migrations through `opsroom db upgrade`, not the alembic CLI")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
