"""PostgreSQL: audit search statements shaped so that no plan depends on ANALYZE's sample.

PostgreSQL's planner picks between walking the primary key newest first (testing every
condition on each row, stopping at ``limit`` matches) and reading an index's matches first.
Which one is cheaper depends on how common the matches are, which it guesses from the
statistics of its last ANALYZE: a random sample, so the same search on the same rows took
6 ms after one sample and 130 ms after another (docs/performance.md, "Wave 13 — pgs13").
The statements here leave it no choice that can go far wrong: each reads a bounded number
of rows, or the rows an index names. They return ids, newest first; every condition is
still tested on the row, so the results are exactly those of a plain scan.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, literal, select, true, tuple_
from sqlalchemy.sql.util import ClauseAdapter

from opsroom.audit import pgtext
from opsroom.store.tables import audit_log

# Each statement planned for its own values. psycopg prepares a statement run five times on a
# connection, and PostgreSQL then may plan it once for any values (a generic plan): blind to
# the word, the bounds and the LIMIT, it read every one of a person's rows for a batch of 785.
CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"
WINDOW = 2000  # newest audit_search rows a words-only search reads first, to measure its words
DENSE = 10  # matches there (of ``limit`` 50) past which the rest is walked, not read from the trigram index
WALK = 20_000  # at most this many rows walked so
FIRST = 500  # candidate ids one user's (or command's) index gives first
STEP = 8  # each later batch at most this many times the one before
MIN_BATCH = 200
MAX_BATCH = 16000  # (each batch's rows are looked up by id: past this, a hash join could look better)


def newest_words(conn: Connection, where: list[ColumnElement[bool]], limit: int, top: int) -> list[int]:
    """Words alone: the newest ``limit`` ids of ``audit_search`` up to ``top`` that ``where``
    (conditions on audit_search alone) admits.

    The planner guesses how common a word is from ANALYZE's sample: after one sample it
    walked the primary key testing ``v4.12.3`` on 55,298 rows (130 ms at 1M rows), after
    another it read the word's 845 trigram matches (6 ms). Here the newest ``WINDOW`` rows
    are read first (a bounded range, whichever plan) and their matches measure the words:

    - common (``limit`` there): done;
    - ``DENSE`` or more matches: the rows the rest should take at that rate, three times over (at
      most ``WALK``), then as below for what is still missing;
    - rarer: the rest ordered by ``id + 0``, which no index gives, so the planner reads the
      trigram index's matches (few, at this rate) and sorts them, instead of walking the
      primary key through the whole table."""
    side = pgtext.audit_search

    def newest(low: int, high: int, wanted: int) -> list[int]:
        # The range walked newest first, its rows then tested (OFFSET 0: a subquery the
        # planner neither flattens nor pushes the words into — else, guessing them rare, it
        # read their whole trigram posting lists for a range of 2,000 rows).
        rows = side.select().where(side.c.id > low, side.c.id <= high).order_by(side.c.id.desc()).offset(0).subquery()
        on_row = ClauseAdapter(rows)
        stmt = select(rows.c.id).where(*(on_row.traverse(c) for c in where)).order_by(rows.c.id.desc())
        return list(conn.execute(stmt.limit(wanted)).scalars())

    ids = newest(top - WINDOW, top, limit)
    low = top - WINDOW
    if len(ids) < limit and len(ids) >= DENSE and low > 0:
        span = min(WALK, (limit - len(ids)) * WINDOW * 3 // len(ids))
        ids += newest(low - span, low, limit - len(ids))
        low -= span
    if len(ids) < limit and low > 0:
        older = (
            select(side.c.id).where(side.c.id <= low, *where).order_by((side.c.id + 0).desc()).limit(limit - len(ids))
        )
        ids += conn.execute(older).scalars()
    return ids


def walked_by(users: tuple[str, ...], commands: tuple[str, ...], channels: tuple[str, ...]) -> tuple[Any, str] | None:
    """The ``lower(x)`` expression whose ``(lower(x), id)`` index a search walks, and its one
    value: a single user or command and no other user, command or channel filter. (Two
    filters: the planner ANDs both indexes' matches, bounded by the rarer; a channel is
    stored as "#ops" or "ops", two values the index does not give in id order.)"""
    if channels or len(users) + len(commands) != 1:
        return None
    if users:
        return audit_log.c.actor, users[0].lower()
    return audit_log.c.command, commands[0].lower()


def by_candidates(
    conn: Connection,
    column: Any,
    value: str,
    clauses: list[ColumnElement[bool]],
    limit: int,
    before_id: int | None,
) -> list[int]:
    """The newest ``limit`` ids matching ``clauses`` (which include ``lower(column) =
    value``), read from that person's (or command's) ``(lower(x), id)`` index newest first
    in growing batches, each batch's rows tested on the row.

    The planner walked the primary key instead, testing the words on every row (26,559 rows
    for ``denied user:dave`` at 1M rows): it prices the index's random heap reads at
    ``random_page_cost`` 4 against the walk's sequential ones. Here no batch reads more rows
    than the index names, and the whole search at most that person's rows."""
    key = func.lower(column)
    pair = tuple_(key, audit_log.c.id)
    found: list[int] = []
    size, read = FIRST, 0
    upper = before_id if before_id is not None else 2**63 - 1
    while len(found) < limit:
        # (lower(x), id) between (value, -1) and (value, upper): exactly ``lower(x) = value``
        # and ``id < upper``, written as a range of the index's own order, which no other
        # index gives: the planner walks this index (an equality would let it walk the
        # primary key and test ``lower(x)`` on every row instead).
        walk = (
            select(audit_log.c.id)
            .where(pair > tuple_(literal(value), literal(-1)), pair < tuple_(literal(value), literal(upper)))
            .order_by(key.desc(), audit_log.c.id.desc())
            .limit(size)
        )
        # Each of the batch's rows read by id (the batch materialized first: the planner
        # cannot turn the walk back into a primary key scan), every condition tested on it
        # (A subquery per candidate: always a lookup by id, never a hash join that reads the
        # whole table, which the planner priced close for a batch of thousands.)
        ids = walk.cte("batch").prefix_with("MATERIALIZED")
        hit = select(and_(true(), *clauses)).where(audit_log.c.id == ids.c.id).scalar_subquery()
        tested = select(ids.c.id, hit).order_by(ids.c.id.desc())
        batch = conn.execute(tested).all()
        if not batch:
            break
        found += [row[0] for row in batch if row[1]][: limit - len(found)]
        if len(batch) < size:
            break
        upper, read = batch[-1][0], read + len(batch)
        # The next batch: twice what the matches so far say the rest needs, at most STEP
        # times this one (each batch's rows are all read; each batch is a round trip).
        wanted = (limit - len(found)) * read * 2 // max(len(found), 1)
        size = max(MIN_BATCH, min(wanted, size * STEP, MAX_BATCH))
    return found
