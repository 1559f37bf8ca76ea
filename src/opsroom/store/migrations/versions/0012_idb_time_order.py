"""idb time order: on SQLite, no time indexes on audit_log.ts and runs.created_at

Revision ID: 0012_idb_time_order
Revises: 0011_sqlite_txn

SQLite only (PostgreSQL keeps both indexes; nothing happens there): ``ix_audit_log_ts`` and
``ix_runs_created_at`` were ≈ 4.4 of the ≈ 14.7 WAL pages each command wrote one at a time
(docs/performance.md, "Wave 12 — idb"). From now on rows are stored in time order (the
audit append and the run INSERT never stamp a row earlier than the one before it), and a
time bound becomes an id bound over the primary key (opsroom.store.time_order).

For the rows already there, ``time_order`` records each table's skew: the largest step back
in time from the latest of all earlier ids to a row (µs; 0 when in order), so those bounds
stay exact-or-wider. A trigger sets it to "unknown" if a time or an id is ever edited.
"""

import datetime as dt

from alembic import op

revision = "0012_idb_time_order"
down_revision = "0011_sqlite_txn"
branch_labels = None
depends_on = None

TABLES = {"audit_log": ("ts", "ix_audit_log_ts"), "runs": ("created_at", "ix_runs_created_at")}
UNKNOWN = 2**62  # opsroom.store.time_order.UNKNOWN


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=None)


def skew_of(times: object) -> int:
    """The largest ``max(earlier) - this`` in µs over ``times`` in id order (0 when in order)."""
    worst = 0
    latest: str | None = None
    for (text,) in times:  # type: ignore[attr-defined]
        if latest is None or text >= latest:  # (the stored text: its order is time order)
            latest = text
            continue
        step = _parse(latest) - _parse(text)
        worst = max(worst, step.days * 86_400_000_000 + step.seconds * 1_000_000 + step.microseconds)
    return worst


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql("CREATE TABLE time_order (name TEXT PRIMARY KEY, skew_us INTEGER NOT NULL) WITHOUT ROWID")
    for table, (column, index) in TABLES.items():
        rows = conn.exec_driver_sql(f"SELECT {column} FROM {table} ORDER BY id")  # noqa: S608 (constants)
        conn.exec_driver_sql("INSERT INTO time_order (name, skew_us) VALUES (?, ?)", (table, skew_of(rows)))
        trigger = (
            f"CREATE TRIGGER time_order_{table} AFTER UPDATE OF id, {column} ON {table} BEGIN "  # noqa: S608
            f"UPDATE time_order SET skew_us = {UNKNOWN} WHERE name = '{table}'; END"
        )  # (constants only)
        conn.exec_driver_sql(trigger)
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {index}")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    for table, (column, index) in TABLES.items():
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS time_order_{table}")
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({column})")
    conn.exec_driver_sql("DROP TABLE IF EXISTS time_order")
