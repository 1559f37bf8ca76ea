"""audit terms: on SQLite, a batch-filled side table replaces the three lower() indexes

Revision ID: 0010_audit_terms
Revises: 0009_audit_search_text

SQLite only (PostgreSQL keeps ``ix_audit_log_{actor,command,channel}_lower``): with 20
commands at once the ``(lower(actor|command|channel), id)`` indexes were half the pages each
shared commit wrote (docs/performance.md, "Wave 8 — sqlidx"). ``audit_terms`` holds the same
keys, filled in batches by opsroom.audit.terms (the row ``(0, '', upto)`` is its high-water
mark), and is filled here from the existing rows before the indexes go. An edited row gets
the entries of its new values from a trigger (searches test the row itself as well, so the
old entries only cost a look).
"""

from alembic import op

revision = "0010_audit_terms"
down_revision = "0009_audit_search_text"
branch_labels = None
depends_on = None

COLUMNS = ("actor", "command", "channel")  # field 1, 2, 3 (opsroom.audit.terms)
CREATE = [
    "CREATE TABLE audit_terms (field INTEGER NOT NULL, value TEXT NOT NULL, id INTEGER NOT NULL, "
    "PRIMARY KEY (field, value, id)) WITHOUT ROWID",
    "CREATE TRIGGER audit_terms_update AFTER UPDATE OF id, actor, command, channel ON audit_log BEGIN "
    "INSERT OR IGNORE INTO audit_terms (field, value, id) VALUES "
    "(1, lower(new.actor), new.id), (2, lower(new.command), new.id), (3, lower(new.channel), new.id); "
    "END",
    "INSERT INTO audit_terms (field, value, id) SELECT f, v, i FROM ("
    "SELECT 1 AS f, lower(actor) AS v, id AS i FROM audit_log "
    "UNION ALL SELECT 2, lower(command), id FROM audit_log "
    "UNION ALL SELECT 3, lower(channel), id FROM audit_log) ORDER BY 1, 2, 3",
    "INSERT INTO audit_terms (field, value, id) SELECT 0, '', coalesce(max(id), 0) FROM audit_log",
]


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    for statement in CREATE:
        conn.exec_driver_sql(statement)
    for column in COLUMNS:
        op.drop_index(f"ix_audit_log_{column}_lower", table_name="audit_log")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_terms_update")
    conn.exec_driver_sql("DROP TABLE IF EXISTS audit_terms")
    for column in COLUMNS:
        conn.exec_driver_sql(f"CREATE INDEX ix_audit_log_{column}_lower ON audit_log (lower({column}), id)")
