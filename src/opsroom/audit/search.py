"""Turning an AuditQuery into SQL, and reading entries back.

Every user value goes in as a bound parameter; LIKE patterns are escaped so a ``%`` or
``_`` someone types is matched literally.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Text,
    and_,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)

from opsroom.audit import fulltext, pgshape, pgtext, terms
from opsroom.audit.chain import AuditEntry, to_utc
from opsroom.audit.query import AuditQuery
from opsroom.audit.time_bounds import id_bounds
from opsroom.audit.visibility import AuditScope
from opsroom.store import Database, run_audit
from opsroom.store.tables import audit_log

MAX_LIMIT = 1000
CHUNK = 1000

_detail_text = cast(audit_log.c.detail, Text)


def row_to_entry(row: Row[Any]) -> AuditEntry:
    """SQLite gives naive datetimes back; PostgreSQL gives them in the session's zone."""
    detail = row.detail
    if isinstance(detail, str):  # a driver that hands back the JSON text
        detail = json.loads(detail)
    return AuditEntry(
        id=int(row.id),
        ts=to_utc(row.ts),
        actor=row.actor,
        action=row.action,
        command=row.command,
        platform=row.platform,
        channel=row.channel,
        run_id=None if row.run_id is None else int(row.run_id),
        summary=row.summary,
        detail=detail if detail is not None else {},
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _like_pattern(word: str) -> str:
    """``%word%`` with ``%``, ``_`` and the escape character itself taken literally."""
    return "%" + word.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


# PostgreSQL: summary, command and the detail's JSON text joined by U+001F, as stored, under
# one trigram index: ``audit_search.search_text`` (0011_pg_search_side, audit/pgtext.py), before
# that ``audit_log.search_text`` (0009_audit_search_text). A word without that separator
# matches it exactly when it matches one of the three fields.
_SEARCH_TEXT = literal_column("audit_log.search_text", Text)
_SIDE_TEXT = pgtext.audit_search.c.search_text
_SEPARATOR = "\x1f"


def _word(word: str, *, search_text: ColumnElement[Any] | None = None) -> ColumnElement[bool]:
    """A word appears (any case) in the summary, the command or the detail's JSON text.

    ILIKE on PostgreSQL (tested on the stored ``search_text`` column given, served by its
    pg_trgm index), ``lower(x) LIKE lower(p)`` on SQLite.
    """
    pattern = _like_pattern(word)
    spellings = fulltext.spellings(word)
    options = [audit_log.c.summary.ilike(pattern, escape="/"), audit_log.c.command.ilike(pattern, escape="/")]
    options += [_detail_text.ilike(_like_pattern(w), escape="/") for w in spellings]
    by_field = or_(*options)
    if search_text is None or _SEPARATOR in word:
        return by_field
    stored = or_(*(search_text.ilike(_like_pattern(w), escape="/") for w in spellings))
    # The JSON spelling (a quote or backslash escaped) belongs to the detail only: the
    # fields are tested again on the few rows the stored text admits.
    return stored if len(spellings) == 1 else and_(stored, by_field)


def _equals_any(column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    return func.lower(column).in_([v.lower() for v in values])


def _channel_names(channels: Sequence[str]) -> list[str]:
    """ "#ops" and "ops" name the same channel, whichever way the engine stored it."""
    names = {v.lower() for v in channels} | {v.lower().lstrip("#") for v in channels}
    names |= {"#" + n for n in list(names) if not n.startswith("#")}
    return sorted(names)


def term_filters(q: AuditQuery) -> list[tuple[int, list[str]]]:
    """The user, command and channel filters as ``audit_terms`` keys: (field, the values
    ``lower(column)`` must be one of), in the order ``where_clauses`` tests them."""
    found = []
    if q.users:
        found.append((terms.ACTOR, sorted({v.lower() for v in q.users})))
    if q.commands:
        found.append((terms.COMMAND, sorted({v.lower() for v in q.commands})))
    if q.channels:
        found.append((terms.CHANNEL, _channel_names(q.channels)))
    return found


def where_clauses(q: AuditQuery, *, search_text: ColumnElement[Any] | None = None) -> list[ColumnElement[bool]]:
    """The exact SQL conditions of a query (every backend), each tested on the row itself.

    ``search_text`` (PostgreSQL): words are tested on this stored text column instead
    (``audit_log.search_text`` of 0009, or ``audit_search``'s of 0011)."""
    t = audit_log.c
    clauses: list[ColumnElement[bool]] = [_word(w, search_text=search_text) for w in q.words]
    if q.users:
        clauses.append(_equals_any(t.actor, q.users))
    if q.commands:
        clauses.append(_equals_any(t.command, q.commands))
    if q.channels:
        clauses.append(func.lower(t.channel).in_(_channel_names(q.channels)))
    if q.platforms:
        clauses.append(_equals_any(t.platform, q.platforms))
    if q.actions:
        # action:run matches "run" and the "run.*" family (run.started, run.finished…).
        clauses.append(
            or_(
                *(
                    or_(
                        func.lower(t.action) == a.lower(),
                        func.lower(t.action).startswith(a.lower() + ".", autoescape=True),
                    )
                    for a in q.actions
                )
            )
        )
    if q.run_ids:  # (SQLite: over each run's id range, store/run_audit.py)
        clauses.append(run_audit.by_runs(q.run_ids))
    if q.since is not None:
        clauses.append(t.ts >= to_utc(q.since))
    if q.until is not None:
        clauses.append(t.ts < to_utc(q.until))
    return clauses


def search(
    db: Database,
    q: AuditQuery,
    *,
    limit: int = 50,
    before_id: int | None = None,
    scope: AuditScope | None = None,
) -> list[AuditEntry]:
    """Newest first; pass the last id you got as ``before_id`` for the next page."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    limit = min(limit, MAX_LIMIT)
    sqlite = db.engine.dialect.name == "sqlite"
    # PostgreSQL words by audit_search, unless a user/command/channel/run filter narrows
    # better through its own index (as on SQLite): the words are tested row by row then.
    side = not sqlite and bool(q.words) and not _by_own_index(q) and pgtext.available(db)
    by_column = not sqlite and not side and fulltext.search_text(db)  # (0009's column, not yet 0011)
    clauses = where_clauses(q, search_text=_SEARCH_TEXT if by_column else None)
    extra: list[ColumnElement[bool]] = []  # (on audit_log's columns, for every way below)
    visible = scope.clause() if scope is not None else None
    if visible is not None:
        extra.append(visible)
    if before_id is not None:
        extra.append(audit_log.c.id < before_id)
    match = _full_text_match(db, q)
    by_terms = term_filters(q) if sqlite and match is None and terms.available(db) else []
    high = terms.indexed_upto(db) if by_terms else pgtext.indexed_upto(db) if side else 0
    with db.read() as conn:
        if not sqlite:  # (until this read transaction ends)
            conn.exec_driver_sql(pgshape.CUSTOM_PLANS)
        floor, ceiling = id_bounds(conn, q)
        if floor is not None:
            extra.append(audit_log.c.id >= floor)
        if ceiling is not None:
            extra.append(audit_log.c.id <= ceiling)
            high = min(high, ceiling)
        clauses += extra
        if by_terms:
            return _search_terms(conn, by_terms, clauses, limit, high, floor, before_id)
        gather = not sqlite and q.until is not None and floor is None and _narrowed(q)
        if side and floor is None:  # (a "since" floor: a short id range, words tested on the row)
            stored = where_clauses(q, search_text=_SIDE_TEXT)
            words_only = visible is None and _words_only(q)  # (then ``stored`` is on audit_search alone)
            stored += [] if words_only else extra
            return _search_side(conn, clauses, stored, limit, high, before_id, gather, words_only)
        if match is None:
            if gather:
                few = _gather(conn, clauses, limit)
                if few is not None:
                    return few
            walked = (
                None
                if sqlite or floor is not None or not q.words or q.run_ids
                else pgshape.walked_by(q.users, q.commands, q.channels)
            )
            if walked is not None:
                return _by_ids(conn, pgshape.by_candidates(conn, *walked, clauses, limit, before_id))
            stmt = select(audit_log).where(*clauses).order_by(audit_log.c.id.desc()).limit(limit)
            return [row_to_entry(r) for r in conn.execute(stmt)]
    return _search_full_text(db, match, clauses, limit, floor or 0, ceiling)


def _search_terms(
    conn: Connection,
    filters: list[tuple[int, list[str]]],
    clauses: list[ColumnElement[bool]],
    limit: int,
    high: int,
    floor: int | None,
    before_id: int | None,
) -> list[AuditEntry]:
    """SQLite, a user/command/channel filter: the rows newer than ``audit_terms``' mark
    first (a short id range, every condition tested on the row), then the rows its first
    filter's entries name, newest first, read lazily in the table's order like the
    ``(lower(x), id)`` index it replaces. The other filters' entries are id sets each
    candidate is tested against before its row is read. ``clauses`` (the filters among them)
    are still tested on every row: an entry only says where to look."""
    newest = audit_log.c.id.desc()
    tail = select(audit_log).where(audit_log.c.id > high, *clauses).order_by(newest).limit(limit)
    found = [row_to_entry(r) for r in conn.execute(tail)]
    if len(found) >= limit:
        return found
    (field, values), *others = filters
    d = terms.audit_terms.alias("d")
    bounds = [d.c.id <= high]
    if before_id is not None:
        bounds.append(d.c.id < before_id)
    if floor is not None:
        bounds.append(d.c.id >= floor)
    for other, wanted in others:
        e = terms.audit_terms.alias()
        ids = select(e.c.id).where(e.c.field == other, e.c.value.in_(wanted), e.c.id <= high)
        bounds.append((d.c.id + 0).in_(ids))  # "+ 0": a test on each candidate, never a list to drive by
    # One walk per value (channel:#ops is "#ops" and "ops"), merged here: SQLite would sort
    # every entry of ``value IN (...)`` by id before taking the newest.
    rest = limit - len(found)
    merged: list[AuditEntry] = []
    for value in values:
        indexed = (
            select(audit_log)
            .select_from(d.join(audit_log, audit_log.c.id == d.c.id))
            .where(d.c.field == field, d.c.value == value, *bounds, *clauses)
            .order_by(d.c.id.desc())
            .limit(rest)
        )
        merged += [row_to_entry(r) for r in conn.execute(indexed)]
    merged.sort(key=lambda e: e.id, reverse=True)
    return found + merged[:rest]


GATHER = 5000  # matching ids collected in any order before falling back to id order


def _by_own_index(q: AuditQuery) -> bool:
    return bool(q.users or q.commands or q.channels or q.run_ids)


def _words_only(q: AuditQuery) -> bool:
    """Words alone, each tested on the stored text alone (see ``_word``)."""
    others = q.users or q.commands or q.channels or q.platforms or q.actions or q.run_ids
    if others or q.since is not None or q.until is not None:
        return False
    return all(_SEPARATOR not in w and len(fulltext.spellings(w)) == 1 for w in q.words)


def _narrowed(q: AuditQuery) -> bool:
    return bool(q.words or q.users or q.commands or q.channels or q.actions or q.platforms or q.run_ids)


def _search_side(
    conn: Connection,
    clauses: list[ColumnElement[bool]],
    stored: list[ColumnElement[bool]],
    limit: int,
    high: int,
    before_id: int | None,
    gather: bool,
    words_only: bool,
) -> list[AuditEntry]:
    """PostgreSQL, words (audit/pgtext.py): the rows past ``audit_search``'s mark ``high``
    first, every condition tested on the row (a short id range, newest first), then the rows
    up to the mark, the words tested on ``audit_search``'s text (its trigram index), newest
    first. ``before_id`` bounds ``audit_search``'s ids too, so a walk down its primary key
    starts where audit_log's would. ``words_only``:
    ``stored`` is every condition, all on ``audit_search``: its newest ``limit`` ids are
    picked before audit_log is read (else a common word's bitmap scan looked up every
    candidate's audit_log row, 2,268 for "disk full" at 1M rows, before keeping 50)."""
    newest = audit_log.c.id.desc()
    tail = select(audit_log).where(audit_log.c.id > high, *clauses).order_by(newest).limit(limit)
    found = [row_to_entry(r) for r in conn.execute(tail)]
    rest = limit - len(found)
    if rest <= 0:
        return found
    side = pgtext.audit_search
    where = [side.c.id <= high, *stored]
    if before_id is not None:
        where.append(side.c.id < before_id)
    if words_only:
        top = high if before_id is None else min(high, before_id - 1)
        return found + _by_ids(conn, pgshape.newest_words(conn, where, rest, top))
    joined = side.join(audit_log, audit_log.c.id == side.c.id)
    if gather:
        few = _gather(conn, where, rest, joined, side.c.id)
        if few is not None:
            return found + few
    indexed = select(audit_log).select_from(joined).where(*where).order_by(side.c.id.desc()).limit(rest)
    return found + [row_to_entry(r) for r in conn.execute(indexed)]


def _gather(
    conn: Connection,
    clauses: list[ColumnElement[bool]],
    limit: int,
    source: Any = audit_log,
    ids_of: ColumnElement[Any] = audit_log.c.id,
) -> list[AuditEntry] | None:
    """Every matching id when there are at most GATHER (else None), the newest ``limit`` rows.

    For an ``until`` search on PostgreSQL: its planner walks the primary key from the newest
    row, expecting matches spread over all ids, while everything before ``until`` sits at the
    low ids (at 1M rows it discarded 523,636 newer rows for ``user:carol command:restart until
    …``). Asked for matches in no order, it combines the filters' indexes instead (a bitmap
    AND), and when there are few the newest are picked here; exact either way."""
    ids = conn.execute(select(ids_of).select_from(source).where(*clauses).limit(GATHER + 1)).scalars().all()
    if len(ids) > GATHER:
        return None
    return _by_ids(conn, sorted(ids, reverse=True)[:limit])


def _by_ids(conn: Connection, ids: Sequence[int]) -> list[AuditEntry]:
    """The rows of these ids, newest first."""
    if not ids:
        return []
    stmt = select(audit_log).where(audit_log.c.id.in_(ids)).order_by(audit_log.c.id.desc())
    return [row_to_entry(r) for r in conn.execute(stmt)]


def _full_text_match(db: Database, q: AuditQuery) -> str | None:
    """The FTS5 query to drive this search by, or None to let the planner pick indexes.

    Only words with nothing else indexed to go by: a ``user:``/``command:``/``channel:``/
    ``run:`` filter narrows better through its own index, checking the words row by row."""
    if not q.words or _by_own_index(q) or not fulltext.available(db):
        return None
    return fulltext.match_expression(q.words)


_FTS = table("audit_fts", column("rowid"))


def _search_full_text(
    db: Database,
    match: str,
    clauses: list[ColumnElement[bool]],
    limit: int,
    floor: int,
    ceiling: int | None = None,
) -> list[AuditEntry]:
    """Rows newer than the index first (a short id range), then rows the index names, newest
    first, read lazily from the index (FTS5 walks its rowids in descending order), so a common
    word stops after ``limit`` hits and a rare one reads only its few candidates."""
    high = fulltext.indexed_upto(db)
    if ceiling is not None:
        high = min(high, ceiling)
    newest = audit_log.c.id.desc()
    with db.read() as conn:
        tail = select(audit_log).where(audit_log.c.id > high, *clauses).order_by(newest).limit(limit)
        found = [row_to_entry(r) for r in conn.execute(tail)]
        if len(found) < limit:
            indexed = (
                select(audit_log)
                .select_from(_FTS.join(audit_log, audit_log.c.id == _FTS.c.rowid))
                .where(
                    text("audit_fts MATCH :fts_match").bindparams(fts_match=match),
                    _FTS.c.rowid <= high,
                    _FTS.c.rowid >= floor,
                    *clauses,
                )
                .order_by(_FTS.c.rowid.desc())
                .limit(limit - len(found))
            )
            found += [row_to_entry(r) for r in conn.execute(indexed)]
    return found


def for_run(db: Database, run_id: int) -> list[AuditEntry]:
    """Every step of one run, oldest first (SQLite: over its id range, store/run_audit.py)."""
    return list(iter_entries(db, [run_audit.by_runs([run_id])]))


def iter_entries(
    db: Database,
    clauses: Sequence[ColumnElement[bool]] = (),
    *,
    upto_id: int | None = None,
    chunk: int = CHUNK,
    after: int = 0,
) -> Iterator[AuditEntry]:
    """Oldest first (ids above ``after``), a chunk per short read transaction, so a long
    export or verify never holds a transaction (on SQLite: the write lock) open for its
    whole run."""
    while True:
        stmt = select(audit_log).where(audit_log.c.id > after, *clauses)
        if upto_id is not None:
            stmt = stmt.where(audit_log.c.id <= upto_id)
        stmt = stmt.order_by(audit_log.c.id).limit(chunk)
        with db.read() as conn:
            rows = conn.execute(stmt).all()
        for row in rows:
            yield row_to_entry(row)
        if len(rows) < chunk:
            return
        after = int(rows[-1].id)
