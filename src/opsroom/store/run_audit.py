"""SQLite: "the audit rows of run N" as an id range instead of an index.

Since migration 0013_one13_run_audit_range SQLite has no index on ``audit_log.run_id``: it
was the last secondary b-tree every command's commits wrote to on the audit path (≈ 2.4 of
a command's ≈ 10.3 WAL pages one at a time, docs/performance.md "Wave 13 — one13"). The run
row carries the id range of its audit rows instead (``runs.audit_first``/``audit_last``),
and a read by run scans that primary-key range, still testing ``run_id`` on every row, so it
returns exactly what a plain ``WHERE run_id = ?`` returns.

What keeps the range right, whoever in opsroom writes the audit row (the engine, approvals,
cancel, recovery after a crash, a late event after the run ended, another process):

- Every audit row goes in through ``AuditLog.append_many`` (audit/log.py, the one INSERT
  into ``audit_log``), which then widens the range of each run its rows name, in the same
  transaction (``widen``: one UPDATE of the run row, already written in that commit on the
  command path). A run's move (runs/lifecycle.py) appends its row first and writes
  ``audit_last`` with its own run row UPDATE instead: the end of a command costs no
  statement more. Ids only grow, so the newest row is the last of its run.
- A row whose run does not exist (yet) cannot be recorded on it: the run id is noted in
  ``audit_run_orphans``, and a read of such a run scans the whole table.
- A run with no range (no audit rows, a file made before this code) is read from the
  table's first id, or up to its last: wider is always safe, the range only limits which
  rows are tested, never which rows match. An UPDATE of an audit row's ``id``/``run_id``
  (never done by opsroom: tampering) widens that run's range by trigger.
- A per-row INSERT trigger would keep it for writers outside opsroom too, but cost more
  CPU than the index it replaces (docs/performance.md "Wave 13 — one13").

PostgreSQL keeps its index; the same clause compiles to ``run_id IN (...)`` there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, MetaData, Table, and_, exists, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType

from opsroom.store.driver import driver_execute
from opsroom.store.tables import audit_log, runs

NO_END = 2**62  # above any id: the upper end of a run without a range

# Runs that have audit rows written while the run row did not exist (SQLite only; created
# by the migration and, for files made by ``create_all``, by the DDL in tables.py).
orphans = Table("audit_run_orphans", MetaData(), Column("run_id", BigInteger, primary_key=True))


# A run's audit id range takes in new rows of it; ids only grow, but min/max keep it right
# whatever the order. No run row: the run is an orphan.
_WIDEN = (
    "UPDATE runs SET audit_first = min(coalesce(audit_first, ?1), ?1), "
    "audit_last = max(coalesce(audit_last, ?2), ?2) WHERE id = ?3"
)
_ORPHAN = "INSERT OR IGNORE INTO audit_run_orphans (run_id) VALUES (?)"


def widen(
    conn: Connection, run_ids: Sequence[int | None], ids: Sequence[int], covered: tuple[int, int, int] | None = None
) -> None:
    """SQLite, after audit rows ``ids`` (of runs ``run_ids``, row by row) went in: one UPDATE
    for each run they name (nearly always one), in their transaction. ``covered``: (run,
    first, last), a run whose row records (or, in this transaction, will record) at least
    that range: no UPDATE for it when its new rows lie within (runs/lifecycle.py, and the
    run's INSERT, engine/submission.py)."""
    run_id = run_ids[0]
    if run_ids.count(run_id) == len(run_ids):  # (the usual case: every row of one run)
        if run_id is not None:
            _widen_one(conn, run_id, ids[0], ids[-1], covered)
        return
    for run_id in set(run_ids):
        if run_id is not None:
            mine = [i for i, r in zip(ids, run_ids, strict=True) if r == run_id]
            _widen_one(conn, run_id, mine[0], mine[-1], covered)


def _widen_one(conn: Connection, run_id: int, first: int, last: int, covered: tuple[int, int, int] | None) -> None:
    if covered is not None and covered[0] == run_id and covered[1] <= first and last <= covered[2]:
        return
    if driver_execute(conn, _WIDEN, (first, last, run_id)).rowcount == 0:
        note_orphan(conn, run_id)


def note_orphan(conn: Connection, run_id: int) -> None:
    """SQLite: run ``run_id`` has audit rows but no run row: its reads scan the whole table."""
    driver_execute(conn, _ORPHAN, (run_id,))


class RunsAudit(ColumnElement[bool]):
    """``audit_log.run_id`` is one of ``run_ids``: on SQLite tested within each run's id range."""

    type = NullType()  # type: ignore[assignment]  # (a Boolean would get "= 1" on SQLite)
    inherit_cache = False  # (holds plain values; these reads are not on a hot path)

    def __init__(self, run_ids: Sequence[int]) -> None:
        self.run_ids = [int(r) for r in run_ids]


def by_runs(run_ids: Sequence[int]) -> ColumnElement[bool]:
    """The condition "this audit row belongs to one of these runs", for any backend."""
    return RunsAudit(run_ids)


def _ends(run_id: int) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """The run's recorded first and last audit id, or the whole table's ends (no run row,
    no range yet, or an orphan), read in the same statement as the scan (one snapshot)."""
    known = and_(runs.c.id == run_id, ~exists().where(orphans.c.run_id == run_id))
    first = select(runs.c.audit_first).where(known).scalar_subquery()
    last = select(runs.c.audit_last).where(known).scalar_subquery()
    return func.coalesce(first, 0), func.coalesce(last, NO_END)


@compiles(RunsAudit)
def _default(element: RunsAudit, compiler: Any, **kw: Any) -> str:
    return "(" + str(compiler.process(audit_log.c.run_id.in_(element.run_ids), **kw)) + ")"


@compiles(RunsAudit, "sqlite")
def _sqlite(element: RunsAudit, compiler: Any, **kw: Any) -> str:
    if not element.run_ids:
        return str(compiler.process(audit_log.c.run_id.in_([]), **kw))
    # Several runs: one range from the lowest first to the highest last (an OR of ranges
    # would not be searched over the key when the query bounds the id as well).
    ends = [_ends(r) for r in sorted(set(element.run_ids))]
    if len(ends) == 1:
        (low, high), match = ends[0], audit_log.c.run_id == element.run_ids[0]
    else:  # (SQLite's min and max of several arguments: scalar functions)
        low, high = func.min(*(e[0] for e in ends)), func.max(*(e[1] for e in ends))
        match = audit_log.c.run_id.in_(element.run_ids)
    clause = and_(match, audit_log.c.id >= low, audit_log.c.id <= high)
    # (in parentheses: the clause may sit in a larger AND)
    return "(" + str(compiler.process(clause, **kw)) + ")"
