"""audit search side table: PostgreSQL's searchable text leaves the appending transaction

Revision ID: 0011_pg_search_side
Revises: 0010_audit_terms

PostgreSQL only (SQLite keeps its FTS5 table). 0009's generated ``audit_log.search_text``
and its pg_trgm index were paid by every append inside the audit chain's lock, the largest
piece of a writer group's server time (docs/performance.md, "Wave 10 — pg10"). The same text
moves to ``audit_search (id, search_text)`` under the same kind of index, copied in batches
after the chain's commits by opsroom.audit.pgtext (``max(id)`` is its mark); existing rows are
copied here, before the index is built (in bulk, not row by row). A trigger gives an edited
row its new text, under the fill's lock (opsroom.audit.pgtext.LOCK_KEYS). The downgrade
brings 0009's column and index back.
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0011_pg_search_side"
down_revision = "0010_audit_terms"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

# Kept here as written at this revision (opsroom.audit.pgtext's TEXT_OF and LOCK_KEYS).
TEXT_OF = "{row}.summary || E'\\x1f' || {row}.command || E'\\x1f' || CAST({row}.detail AS TEXT)"
LOCK_KEYS = "1869640564, hashtext(current_schema())"
INDEX = "ix_audit_search_text_trgm"
SEARCH_TEXT_0009 = "summary || E'\\x1f' || command || E'\\x1f' || CAST(detail AS TEXT)"  # its column
OLD_INDEX = "ix_audit_log_search_text_trgm"  # 0009_audit_search_text's
PG_EXTENSION_LOCK = 0x6F7073726F6F6D74  # the key 0006 and 0009 take for the same reason

EDIT_FUNCTION = f"""
CREATE FUNCTION audit_search_edit() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    PERFORM pg_advisory_xact_lock({LOCK_KEYS});
    UPDATE audit_search SET search_text = {TEXT_OF.format(row="NEW")} WHERE id = NEW.id;
    RETURN NULL;
END
$body$
"""  # noqa: S608 (constants only)
EDIT_TRIGGER = (
    "CREATE TRIGGER audit_search_edit AFTER UPDATE OF summary, command, detail ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_search_edit()"
)


def _pg_trgm_schema(conn: sa.Connection) -> str | None:
    """The schema pg_trgm lives in, creating it in ``public`` if needed; None if unavailable
    (as 0009_audit_search_text does)."""
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
    conn.exec_driver_sql("CREATE TABLE audit_search (id BIGINT PRIMARY KEY, search_text TEXT NOT NULL)")
    conn.exec_driver_sql(
        f"INSERT INTO audit_search (id, search_text) SELECT id, {TEXT_OF.format(row='audit_log')} FROM audit_log"  # noqa: S608
    )
    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {OLD_INDEX}")
    conn.exec_driver_sql("ALTER TABLE audit_log DROP COLUMN IF EXISTS search_text")
    schema = _pg_trgm_schema(conn)
    if schema is not None:
        conn.exec_driver_sql(f'CREATE INDEX {INDEX} ON audit_search USING gin (search_text "{schema}".gin_trgm_ops)')
    conn.exec_driver_sql(EDIT_FUNCTION)
    conn.exec_driver_sql(EDIT_TRIGGER)
    conn.exec_driver_sql("ANALYZE audit_search")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_search_edit ON audit_log")
    conn.exec_driver_sql("DROP FUNCTION IF EXISTS audit_search_edit()")
    conn.exec_driver_sql("DROP TABLE IF EXISTS audit_search")
    conn.exec_driver_sql(
        f"ALTER TABLE audit_log ADD COLUMN search_text TEXT GENERATED ALWAYS AS ({SEARCH_TEXT_0009}) STORED"
    )
    schema = _pg_trgm_schema(conn)
    if schema is not None:
        conn.exec_driver_sql(f'CREATE INDEX {OLD_INDEX} ON audit_log USING gin (search_text "{schema}".gin_trgm_ops)')
    conn.exec_driver_sql("ANALYZE audit_log")
