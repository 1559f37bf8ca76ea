"""SQLite: "the audit rows of run N" as an id range instead of an index.

Since migration 0013_one13_run_audit_range SQLite has no index on ``audit_log.run_id``: it
was the last secondary b-tree every command's commits wrote to on the audit path (≈ 2.4 of
a command's ≈ 10.3 WAL pages one at a time, docs/performance.md "Wave 13 — one13"). The run
row carries the id range of its audit rows instead (``runs.audit_first``/``audit_last``),
and a read by run scans that primary-key range, still testing ``run_id`` on every row, so it
returns exactly what a plain ``WHERE run_id = ?`` returns.

What keeps the range right, whoever writes the audit row (the engine, approvals, cancel,
recovery after a crash, a late event after the run ended, another process):

- A trigger on every audit INSERT with a run id widens that run's range to the new id (and
  one on an UPDATE of ``run_id``/``id``, never done by opsroom, to the new values). The run
  row is already written in the same commit on the command path (its INSERT, its end), so
  this costs no page the index did not.
- A row whose run does not exist (yet) cannot be recorded on it: the trigger notes the run
  id in ``audit_run_orphans``, and a read of such a run scans the whole table.
- A run with no range (no audit rows, or a file made without the trigger) is read by a scan
  of the whole table too. Wider is always safe: the range only ever limits which rows are
  tested, never which rows match.

PostgreSQL keeps its index; the same clause compiles to ``run_id IN (...)`` there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, Table, and_, exists, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType

from opsroom.store.tables import audit_log, runs

NO_END = 2**62  # above any id: the upper end of a run without a range

# Runs that have audit rows written while the run row did not exist (SQLite only; created
# by the migration and, for files made by ``create_all``, by the DDL in tables.py).
orphans = Table("audit_run_orphans", MetaData(), Column("run_id", BigInteger, primary_key=True))


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
