"""sqlite txn: on SQLite, ix_runs_state leaves out the succeeded runs

Revision ID: 0011_sqlite_txn
Revises: 0001_initial

SQLite only (PostgreSQL keeps the whole index): a run that succeeds, most of them, then
leaves the index at its end instead of moving from its ``running`` entry to a ``succeeded``
one elsewhere in it — one WAL page fewer in that commit, and no entry to add
(docs/performance.md, "Wave 11 — one2"). Queries for other states say ``state !=
'succeeded'`` so SQLite uses it (opsroom.runs.store.list_runs).
"""

from alembic import op

revision = "0011_sqlite_txn"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

WHERE = "state != 'succeeded'"  # opsroom.store.tables.RUNS_STATE_INDEX_WHERE, as it was made


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_runs_state")
    conn.exec_driver_sql(f"CREATE INDEX ix_runs_state ON runs (state) WHERE {WHERE}")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_runs_state")
    conn.exec_driver_sql("CREATE INDEX ix_runs_state ON runs (state)")
