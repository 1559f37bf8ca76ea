"""SQLite full-text candidates for audit word searches (the FTS5 table ``audit_fts``).

The table (migration 0006_audit_search) is contentless, with the trigram tokenizer and no
positions: it answers "which rows hold all these trigrams", a superset of the rows whose text
holds the word (its case folding covers ``lower``'s). The exact ``LIKE`` test always runs
on top, so results are exactly those of a plain scan.

Rows are indexed in batches here, not per append: FTS5 flushes at every transaction and
savepoint, which cost ~50 µs a row on the command path. The index covers ids up to its
newest rowid (the high-water mark); a search indexes the rows after it first when there are
many, and scans the few newer ones directly. PostgreSQL needs none of this: the pg_trgm GIN
index of its stored ``search_text`` column (migration 0009) serves ``ILIKE`` as it is.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

from sqlalchemy import Engine, select

from opsroom.store import Database
from opsroom.store.tables import audit_log

CATCH_UP_AT = 2000  # unindexed rows a search scans directly before it indexes them
_HIGH_WATER = "SELECT coalesce(max(rowid), 0) FROM audit_fts"
_INDEX_NEWER = (
    "INSERT INTO audit_fts(rowid, summary, command, detail) "
    "SELECT id, summary, command, detail FROM audit_log WHERE id > ? ORDER BY id"
)
# Per engine and question, held weakly: an id() could be reused by a later engine of another database.
_present: weakref.WeakKeyDictionary[Engine, dict[str, bool]] = weakref.WeakKeyDictionary()

_HAS_FTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_fts'"
_HAS_SEARCH_TEXT = (
    "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
    "AND table_name = 'audit_log' AND column_name = 'search_text'"
)


def _has(db: Database, dialect: str, probe: str) -> bool:
    """Whether ``probe`` finds a row, asked once per engine (a schema only changes by migrating,
    which a running server does not do); False on another dialect."""
    answers = _present.setdefault(db.engine, {})
    known = answers.get(probe)
    if known is None:
        known = False
        if db.engine.dialect.name == dialect:
            with db.read() as conn:
                known = conn.exec_driver_sql(probe).first() is not None
        answers[probe] = known
    return known


def available(db: Database) -> bool:
    """Whether this database has the FTS table (SQLite, migrated to 0006_audit_search)."""
    return _has(db, "sqlite", _HAS_FTS)


def search_text(db: Database) -> bool:
    """Whether this PostgreSQL database has ``audit_log.search_text`` (0009_audit_search_text)."""
    return _has(db, "postgresql", _HAS_SEARCH_TEXT)


def indexed_upto(db: Database) -> int:
    """The high-water mark after indexing the newer rows when there are many of them."""
    with db.read() as conn:
        high = int(conn.exec_driver_sql(_HIGH_WATER).scalar() or 0)
        top = int(conn.execute(select(audit_log.c.id).order_by(audit_log.c.id.desc()).limit(1)).scalar() or 0)
    if top - high < CATCH_UP_AT:
        return high
    with db.begin() as conn:
        high = int(conn.exec_driver_sql(_HIGH_WATER).scalar() or 0)
        conn.exec_driver_sql(_INDEX_NEWER, (high,))
        return int(conn.exec_driver_sql(_HIGH_WATER).scalar() or 0)


def spellings(word: str) -> list[str]:
    """The word, and how it is written inside JSON text when it holds a quote or backslash."""
    import json

    escaped = json.dumps(word, ensure_ascii=False)[1:-1]
    return [word] if escaped == word else [word, escaped]


MAX_TRIGRAMS = 3  # FTS5's AND of many common trigrams costs far more than it narrows


def _few_trigrams(word: str) -> list[str]:
    """A few of the word's trigrams (any subset keeps every true match): the first, the last,
    and the one with the most non-letters (rarer in text than letters)."""
    every = [word[i : i + 3] for i in range(len(word) - 2)]
    chosen = dict.fromkeys([every[0], every[-1]])
    rare = max(every, key=lambda t: sum(not c.isalpha() for c in t))
    chosen[rare if rare not in chosen else every[len(every) // 2]] = None
    return sorted(chosen)[:MAX_TRIGRAMS]


def match_expression(words: Sequence[str]) -> str | None:
    """An FTS5 query every row holding all ``words`` matches; None when no word is long
    enough (3+ characters in every spelling) to narrow anything."""
    terms: list[str] = []
    for word in words:
        options = spellings(word)
        if any(len(w) < 3 for w in options):
            continue
        alternatives = []
        for w in options:
            trigrams = _few_trigrams(w)
            alternatives.append("(" + " AND ".join('"' + t.replace('"', '""') + '"' for t in trigrams) + ")")
        terms.append("(" + " OR ".join(alternatives) + ")")
    return " AND ".join(terms) if terms else None
