"""The core tables. Other parts of opsroom define their tables in their own module on the
same ``metadata`` (see ``opsroom.store.schema``) and add an Alembic migration for them."""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    func,
    text,
)

from opsroom.store.types import UTCDateTime

# Naming convention so Alembic migrations get stable constraint names on both backends.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The rows SQLite's ix_runs_state holds (see there), word for word as queries must repeat it.
RUNS_STATE_INDEX_WHERE = "state != 'succeeded'"

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger elsewhere.
Id = BigInteger().with_variant(Integer(), "sqlite")

runs = Table(
    "runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("command", String(100), nullable=False),
    Column("args", JSON, nullable=False),
    Column("raw_text", Text, nullable=False),
    Column("user", String(200), nullable=False),
    Column("platform", String(50), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("channel_name", String(200), nullable=False, default=""),
    Column("thread", String(200)),
    Column("state", String(30), nullable=False),
    Column("fingerprint", String(64), nullable=False, default=""),
    Column("lock_key", String(300)),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime()),
    Column("finished_at", UTCDateTime()),
    Column("exit_code", Integer),
    Column("result", Text, nullable=False, default=""),
    Column("error", Text, nullable=False, default=""),
    Column("output", Text, nullable=False, default=""),
    Column("output_truncated", Boolean, nullable=False, default=False),
    Column("progress_message_id", String(200)),
    Column("timeout", Float, nullable=False, default=300.0),
    Column("extra", JSON, nullable=False, default=dict),
    # SQLite: the first and last id of this run's audit rows, or wider (NULL: unknown; see
    # opsroom.store.run_audit). NULL on PostgreSQL.
    Column("audit_first", BigInteger),
    Column("audit_last", BigInteger),
    # On SQLite without the succeeded runs (migration 0011_sqlite_txn): a run that ends well,
    # the common case, then leaves this index instead of moving within it, one page fewer in
    # its end's commit. A query asking for other states must say ``state != 'succeeded'`` for
    # SQLite to use it (runs/store.py ``list_runs``); succeeded runs are listed newest first
    # from the table itself, where they are most rows. PostgreSQL keeps the whole index.
    Index("ix_runs_state", "state", sqlite_where=text(RUNS_STATE_INDEX_WHERE)),
)
# PostgreSQL only since 0012_idb_time_order (see below).
Index("ix_runs_created_at", runs.c.created_at).ddl_if(dialect="postgresql")

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=False),  # chain position, assigned by us
    Column("ts", UTCDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(60), nullable=False),
    Column("command", String(100), nullable=False, default=""),
    Column("platform", String(50), nullable=False, default=""),
    Column("channel", String(200), nullable=False, default=""),
    Column("run_id", BigInteger),
    Column("summary", Text, nullable=False, default=""),
    Column("detail", JSON, nullable=False, default=dict),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
# PostgreSQL only since 0013_one13_run_audit_range: on SQLite a run's audit rows are read
# over the id range its run row records (opsroom.store.run_audit), which the audit append
# widens (audit/log.py) and a run's move writes with its row (runs/lifecycle.py). The
# statements below are the migration's too: the table of runs with audit rows but no run
# row, and a trigger for an UPDATE of an audit row's id or run (never done by opsroom:
# tampering), which widens that run's range (``changes()`` in a trigger body counts the
# trigger's own UPDATE: 0 when the run row does not exist, and the run is an orphan).
Index("ix_audit_log_run_id", audit_log.c.run_id).ddl_if(dialect="postgresql")
SQLITE_RUN_AUDIT_DDL = (
    "CREATE TABLE IF NOT EXISTS audit_run_orphans (run_id INTEGER PRIMARY KEY) WITHOUT ROWID",
    "CREATE TRIGGER IF NOT EXISTS audit_run_range_moved AFTER UPDATE OF id, run_id ON audit_log "
    "WHEN NEW.run_id IS NOT NULL BEGIN "
    "UPDATE runs SET audit_first = min(coalesce(audit_first, NEW.id), NEW.id), "
    "audit_last = max(coalesce(audit_last, NEW.id), NEW.id) WHERE id = NEW.run_id; "
    "INSERT OR IGNORE INTO audit_run_orphans (run_id) SELECT NEW.run_id WHERE changes() = 0; END",
)
for _ddl in SQLITE_RUN_AUDIT_DDL:  # a file made by create_all gets them too
    event.listen(metadata, "after_create", DDL(_ddl).execute_if(dialect="sqlite"))  # type: ignore[no-untyped-call]
# On SQLite these two went in 0012_idb_time_order (each a b-tree every command's commits
# wrote to): rows are stored in time order there, and a time bound becomes an id bound found
# over the primary key (opsroom.store.time_order). PostgreSQL keeps them.
Index("ix_audit_log_ts", audit_log.c.ts).ddl_if(dialect="postgresql")
# Searches compare lower(...) (migration 0006; the full-text indexes are made there too, per
# backend: the SQLite FTS5 table audit_fts, PostgreSQL pg_trgm GIN indexes). PostgreSQL only
# since 0010_audit_terms: SQLite has the batch-filled table audit_terms instead (the indexes
# were half of what each shared commit wrote; opsroom.audit.terms).
POSTGRESQL_ONLY_INDEXES = frozenset(
    [
        *(f"ix_audit_log_{c}_lower" for c in ("actor", "command", "channel")),
        *("ix_audit_log_ts", "ix_runs_created_at", "ix_audit_log_run_id"),
    ]
)
for _column in (audit_log.c.actor, audit_log.c.command, audit_log.c.channel):
    Index(f"ix_audit_log_{_column.name}_lower", func.lower(_column), audit_log.c.id).ddl_if(dialect="postgresql")

locks = Table(
    "locks",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("run_id", BigInteger),
    Column("holder", String(200), nullable=False),
    Column("since", UTCDateTime(), nullable=False),
)

# Platform delivery ids already handled, so a retried delivery runs a command exactly once,
# also across a restart.
processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", String(200), primary_key=True),
    Column("platform", String(50), nullable=False),
    Column("seen_at", UTCDateTime(), nullable=False),
)
