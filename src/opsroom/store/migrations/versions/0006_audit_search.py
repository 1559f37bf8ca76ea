"""audit search indexes: lower(actor/command/channel), full text (FTS5 / pg_trgm)

Revision ID: 0006_audit_search
Revises: 0001_initial

Searches filter on lower(actor), lower(command) and lower(channel), and look for words in the
summary, command and detail text. Without indexes for those, every search scanned the log
(808 ms at 1M rows). Full text:

- SQLite: a contentless FTS5 table with the trigram tokenizer over (summary, command,
  detail), filled in batches by opsroom.audit.fulltext (an edited row is re-indexed by a
  trigger); it finds candidate rows for words of 3+ characters, the exact test stays in SQL.
- PostgreSQL: pg_trgm GIN indexes, which serve ILIKE '%word%' directly. The extension is
  created in ``public`` when missing (it is a trusted extension from PostgreSQL 13 on); if
  it cannot be created, the search works without these indexes, only slower.
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0006_audit_search"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

FTS_COLUMNS = "summary, command, detail"
SQLITE_FTS = [
    # Contentless, no positions: it only ever answers "which rows may hold these trigrams".
    "CREATE VIRTUAL TABLE audit_fts USING fts5(summary, command, detail, content='', "
    "tokenize='trigram', detail='none')",
    # Rows are indexed in batches by opsroom.audit.fulltext (per-row indexing inside each
    # command's transaction cost ~50 µs a row); an edited row is re-indexed at once.
    "CREATE TRIGGER audit_fts_update AFTER UPDATE ON audit_log "
    "WHEN old.id <= (SELECT max(rowid) FROM audit_fts) BEGIN "
    "INSERT INTO audit_fts(audit_fts, rowid, summary, command, detail) "
    "VALUES ('delete', old.id, old.summary, old.command, old.detail); "
    "INSERT INTO audit_fts(rowid, summary, command, detail) VALUES (new.id, new.summary, new.command, new.detail); "
    "END",
    "INSERT INTO audit_fts(rowid, summary, command, detail) SELECT id, summary, command, detail FROM audit_log "
    "ORDER BY id",
]
PG_TRGM_INDEXES = {
    "ix_audit_log_summary_trgm": "summary",
    "ix_audit_log_command_trgm": "command",
    "ix_audit_log_detail_trgm": "(CAST(detail AS TEXT))",
}
# Any fixed key: two migrations creating the extension at once would otherwise collide.
PG_EXTENSION_LOCK = 0x6F7073726F6F6D74


def _pg_trgm_schema(conn: sa.Connection) -> str | None:
    """The schema pg_trgm lives in, creating it in ``public`` if needed; None if unavailable."""
    find = sa.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
    )
    conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({PG_EXTENSION_LOCK})"))
    found = conn.execute(find).scalar()
    if found is not None:
        return str(found)
    for statement in ("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public", "CREATE EXTENSION IF NOT EXISTS pg_trgm"):
        savepoint = conn.begin_nested()
        try:
            conn.execute(sa.text(statement))
            savepoint.commit()
            return str(conn.execute(find).scalar())
        except sa.exc.DBAPIError as err:
            savepoint.rollback()
            log.warning("pg_trgm is not available (%s); audit text search works without its index", err)
    return None


def upgrade() -> None:
    conn = op.get_bind()
    op.drop_index("ix_audit_log_actor", table_name="audit_log")
    op.drop_index("ix_audit_log_command", table_name="audit_log")
    for column in ("actor", "command", "channel"):
        # With id, so one person's (command's, channel's) newest entries come in index order.
        op.create_index(f"ix_audit_log_{column}_lower", "audit_log", [sa.text(f"lower({column})"), "id"])
    if conn.dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            conn.exec_driver_sql(statement)
    elif conn.dialect.name == "postgresql":
        schema = _pg_trgm_schema(conn)
        if schema is not None:
            for name, expression in PG_TRGM_INDEXES.items():
                conn.exec_driver_sql(
                    f'CREATE INDEX {name} ON audit_log USING gin ({expression} "{schema}".gin_trgm_ops)'
                )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_fts_update")
        conn.exec_driver_sql("DROP TABLE IF EXISTS audit_fts")
    elif conn.dialect.name == "postgresql":
        for name in PG_TRGM_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    for column in ("actor", "command", "channel"):
        op.drop_index(f"ix_audit_log_{column}_lower", table_name="audit_log")
    op.create_index("ix_audit_log_actor", "audit_log", ["actor"])
    op.create_index("ix_audit_log_command", "audit_log", ["command"])
