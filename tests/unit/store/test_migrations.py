"""The migrations and the table definitions must agree, on both backends, or a fresh
install and an upgraded one would differ."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import opsroom.store.schema  # noqa: F401  (every table)
from opsroom.store import Database, metadata
from opsroom.store.migrate import alembic_config, current_revisions, script_heads, upgrade
from opsroom.store.tables import POSTGRESQL_ONLY_INDEXES


def _not_full_text(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    """The audit full-text objects exist per backend only (migration 0006_audit_search: the
    SQLite FTS5 table and its shadow tables; 0009_audit_search_text: PostgreSQL's stored
    ``audit_log.search_text`` column and its pg_trgm index, since 0011_pg_search_side the
    table ``audit_search`` and its index instead)."""
    name = name or ""
    return (
        not name.startswith("audit_fts") and not name.endswith("_trgm") and name not in ("search_text", "audit_search")
    )


def test_migrated_schema_matches_the_tables(db: Database) -> None:
    sqlite = db.engine.dialect.name == "sqlite"

    def include(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
        # 0010_audit_terms: SQLite has the table audit_terms instead of the lower() indexes
        # (0013_one13_run_audit_range: audit_run_orphans instead of ix_audit_log_run_id).
        if sqlite and (name in ("audit_terms", "time_order", "audit_run_orphans") or name in POSTGRESQL_ONLY_INDEXES):
            return False
        return _not_full_text(obj, name, kind, reflected, compare_to)

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include})
        diffs = compare_metadata(context, metadata)
    # SQLite cannot tell some types apart (e.g. JSON vs TEXT); anything else is a real drift.
    real = [d for d in diffs if not (isinstance(d, list) and d and d[0][0] == "modify_type")]
    assert real == []


def test_cheap_head_detection_agrees_with_alembic(db: Database) -> None:
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert script_heads() == heads
    assert current_revisions(db.engine) == heads
    upgrade(db.engine)  # already current: a no-op that must not fail
    assert current_revisions(db.engine) == heads
