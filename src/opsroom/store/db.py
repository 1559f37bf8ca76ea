"""Opening the database: one SQLAlchemy engine, SQLite (WAL) or PostgreSQL, same code.

Database calls are synchronous and short (one transaction per state change); they run on the
event loop thread on purpose: an SQLite commit costs tens of microseconds, less than a hop
to a worker thread would.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from opsroom.store.tables import metadata


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver for them;
    a bare path means an SQLite file."""
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def create_db_engine(url: str, *, sqlite_synchronous: str = "NORMAL", schema: str | None = None) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        if not memory and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            poolclass=StaticPool if memory else None,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # Let SQLAlchemy's BEGIN be the transaction start; WAL lets readers run while we write.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            # Writers (Database.begin) take the write lock up front with IMMEDIATE, so two
            # writers never deadlock mid-way; readers begin deferred and never block a writer.
            immediate = conn.get_execution_options().get("opsroom_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    connect_args = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args=connect_args)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class Database:
    """The engine plus the one way to write: ``with db.begin() as conn``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, **kwargs: object) -> "Database":
        db = cls(create_db_engine(url, **kwargs))  # type: ignore[arg-type]
        if migrate:
            db.migrate()
        return db

    def migrate(self) -> None:
        from opsroom.store.migrate import upgrade

        upgrade(self.engine)

    def create_all(self) -> None:
        """Create every table straight from the metadata (tests; Alembic is the real path)."""
        import opsroom.store.schema  # noqa: F401  (registers every module's tables)

        metadata.create_all(self.engine)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(opsroom_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
