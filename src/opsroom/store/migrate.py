"""Alembic, driven from code: ``opsroom run`` upgrades the database to the newest schema
before it starts. Every module that owns tables ships its own migration in
``migrations/versions``; independent modules branch from the initial revision and
``heads`` upgrades them all."""

from __future__ import annotations

import re
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from opsroom.store.driver import DriverTransaction

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision\s*=\s*(.+)$", re.M)


def script_heads() -> set[str]:
    """The newest revision of each migration branch, read from the files themselves (cheap:
    no Alembic import), so a database that is already current starts without Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text()
        found = _REVISION.search(text)
        if found:
            revisions.add(found.group(1))
        down = _DOWN.search(text)
        if down:
            parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    return revisions - parents


def current_revisions(engine: Engine) -> set[str]:
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}
    except Exception:  # no table yet: a new database
        return set()


def upgrade(engine: Engine, revision: str = "heads") -> None:
    if revision == "heads" and current_revisions(engine) == script_heads():
        return
    from alembic import command

    # Processes that upgrade together (replicas starting at once, a Helm hook beside them)
    # take turns: SQLite's write lock up front (BEGIN IMMEDIATE), PostgreSQL's advisory lock.
    # The second finds the schema current and Alembic does nothing.
    with engine.connect() as conn:
        # (SQLite: begun on the driver; SQLAlchemy's transaction joins it, store/driver.py.)
        write_lock = DriverTransaction(conn) if conn.dialect.name == "sqlite" else nullcontext()
        with write_lock, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('opsroom:migrate'))")
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
