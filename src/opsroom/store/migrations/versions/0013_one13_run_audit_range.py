"""one13 run audit range: on SQLite, no index on audit_log.run_id

Revision ID: 0013_one13_run_audit_range
Revises: 0012_idb_time_order

``ix_audit_log_run_id`` was the last secondary index on SQLite's audit path (≈ 2.4 of the
≈ 10.3 WAL pages each command wrote one at a time; docs/performance.md "Wave 13 — one13").
Each run row now records the id range of its audit rows (``runs.audit_first``/``audit_last``,
both backends; filled on SQLite only): the audit append widens it (audit/log.py), a run's
move writes it with its row (runs/lifecycle.py), and a trigger on an UPDATE of an audit
row's ``id``/``run_id`` (never done by opsroom) widens it too. Audit rows of a run that does
not exist are noted in ``audit_run_orphans`` (that run is then read by a whole scan). The
ranges of the rows already there are computed here, through the index, before it goes.
PostgreSQL keeps the index (the columns stay NULL there). Reads: opsroom.store.run_audit.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_one13_run_audit_range"
down_revision = "0012_idb_time_order"
branch_labels = None
depends_on = None

INDEX = "ix_audit_log_run_id"
# (opsroom.store.tables.SQLITE_RUN_AUDIT_DDL as of this revision)
SQLITE_DDL = (
    "CREATE TABLE IF NOT EXISTS audit_run_orphans (run_id INTEGER PRIMARY KEY) WITHOUT ROWID",
    "CREATE TRIGGER IF NOT EXISTS audit_run_range_moved AFTER UPDATE OF id, run_id ON audit_log "
    "WHEN NEW.run_id IS NOT NULL BEGIN "
    "UPDATE runs SET audit_first = min(coalesce(audit_first, NEW.id), NEW.id), "
    "audit_last = max(coalesce(audit_last, NEW.id), NEW.id) WHERE id = NEW.run_id; "
    "INSERT OR IGNORE INTO audit_run_orphans (run_id) SELECT NEW.run_id WHERE changes() = 0; END",
)
# Through the index, one run at a time (each min and max alone, so each reads one end).
_FILL = (
    "UPDATE runs SET audit_first = (SELECT min(id) FROM audit_log WHERE run_id = runs.id), "
    "audit_last = (SELECT max(id) FROM audit_log WHERE run_id = runs.id)"
)
_ORPHANS = (
    "INSERT OR IGNORE INTO audit_run_orphans (run_id) SELECT DISTINCT run_id FROM audit_log "
    "WHERE run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = audit_log.run_id)"
)


def upgrade() -> None:
    op.add_column("runs", sa.Column("audit_first", sa.BigInteger(), nullable=True))
    op.add_column("runs", sa.Column("audit_last", sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {INDEX} ON audit_log (run_id)")  # (for the fill)
    conn.exec_driver_sql(SQLITE_DDL[0])
    conn.exec_driver_sql(_FILL)
    conn.exec_driver_sql(_ORPHANS)
    conn.exec_driver_sql(SQLITE_DDL[1])
    conn.exec_driver_sql(f"DROP INDEX {INDEX}")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_run_range_moved")
        conn.exec_driver_sql("DROP TABLE IF EXISTS audit_run_orphans")
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {INDEX} ON audit_log (run_id)")
        # (SQLite ≥ 3.35 drops a column in place; Alembic's drop_column would too)
        conn.exec_driver_sql("ALTER TABLE runs DROP COLUMN audit_first")
        conn.exec_driver_sql("ALTER TABLE runs DROP COLUMN audit_last")
        return
    op.drop_column("runs", "audit_last")
    op.drop_column("runs", "audit_first")
