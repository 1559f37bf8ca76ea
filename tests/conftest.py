"""Shared fixtures. Every test that touches the database runs against SQLite and PostgreSQL.

PostgreSQL comes from OPSROOM_TEST_PG (default: the local server on 127.0.0.1:5432, database
``test``); each test gets its own schema, dropped afterwards. Set OPSROOM_TEST_PG=off to run
SQLite only (e.g. on a laptop without PostgreSQL) — CI never sets it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from opsroom.store import Database, create_db_engine

PG_URL = os.environ.get("OPSROOM_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite"] + ([] if PG_URL == "off" else ["postgresql"])


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty database; for PostgreSQL the URL carries the schema as
    ``?options=-csearch_path%3D<schema>`` so every connection lands in the test's schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'opsroom.db'}"
        return
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated, empty database (all tables), on each backend."""
    database = Database(create_db_engine(db_url))
    database.migrate()
    yield database
    database.dispose()
