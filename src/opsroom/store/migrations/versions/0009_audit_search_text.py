"""audit search text: one stored column and one trigram index for word searches (PostgreSQL)

Revision ID: 0009_audit_search_text
Revises: 0006_audit_search

A word search tested three ILIKEs per row (summary, command, ``detail::text``) against three
pg_trgm indexes; at 1M rows the planner preferred walking the primary key and paying ~9 µs a
row for those tests. ``search_text`` is the text a word search matches, as stored (summary,
command and detail are redacted before they are stored, so it holds nothing they do not):

    summary || U+001F || command || U+001F || detail::text

a generated column, so PostgreSQL fills it for every existing row when it is added (the
backfill) and keeps it true for every insert and update without opsroom writing it. The unit
separator between the fields means a word that holds no U+001F cannot match across two of
them (the search tests such a word field by field). One GIN trigram index serves
``search_text ILIKE '%word%'``; the three per-column indexes it replaces are dropped.

The column is not part of the hash chain (opsroom.audit.chain hashes the twelve original
fields) and not in ``store/tables.audit_log``, so reading entries never fetches it.
SQLite keeps its FTS5 table (0006_audit_search) and gets nothing here.
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0009_audit_search_text"
down_revision = "0006_audit_search"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

SEARCH_TEXT = "summary || E'\\x1f' || command || E'\\x1f' || CAST(detail AS TEXT)"
INDEX = "ix_audit_log_search_text_trgm"
# 0006_audit_search's per-column indexes, replaced by INDEX.
OLD_INDEXES = {
    "ix_audit_log_summary_trgm": "summary",
    "ix_audit_log_command_trgm": "command",
    "ix_audit_log_detail_trgm": "(CAST(detail AS TEXT))",
}
PG_EXTENSION_LOCK = 0x6F7073726F6F6D74  # the key 0006_audit_search takes for the same reason


def _pg_trgm_schema(conn: sa.Connection) -> str | None:
    """The schema pg_trgm lives in, creating it in ``public`` if needed; None if unavailable."""
    find = sa.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
    )
    conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({PG_EXTENSION_LOCK})"))
    found = conn.execute(find).scalar()
    if found is not None:
        return str(found)
    savepoint = conn.begin_nested()
    try:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
        savepoint.commit()
        return str(conn.execute(find).scalar())
    except sa.exc.DBAPIError as err:
        savepoint.rollback()
        log.warning("pg_trgm is not available (%s); audit text search works without its index", err)
        return None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql(
        f"ALTER TABLE audit_log ADD COLUMN search_text TEXT GENERATED ALWAYS AS ({SEARCH_TEXT}) STORED"
    )
    for name in OLD_INDEXES:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    schema = _pg_trgm_schema(conn)
    if schema is not None:
        conn.exec_driver_sql(f'CREATE INDEX {INDEX} ON audit_log USING gin (search_text "{schema}".gin_trgm_ops)')
    conn.exec_driver_sql("ANALYZE audit_log")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {INDEX}")
    conn.exec_driver_sql("ALTER TABLE audit_log DROP COLUMN IF EXISTS search_text")
    schema = _pg_trgm_schema(conn)
    if schema is not None:
        for name, expression in OLD_INDEXES.items():
            conn.exec_driver_sql(f'CREATE INDEX {name} ON audit_log USING gin ({expression} "{schema}".gin_trgm_ops)')
