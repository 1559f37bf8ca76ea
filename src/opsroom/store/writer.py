"""PostgreSQL's hot-path writes on a thread of their own, committed in groups.

On PostgreSQL every statement is a round trip to the server (0.1–2 ms on a busy machine).
Made on the event loop, as ``Database.write()`` blocks are, those round trips stop every
other command meanwhile: the blocking driver took 40 % of the loop's time. ``WriteThread``
takes the per-command writes (a run row and its audit rows; a run's start and end) as
functions ``fn(conn) -> result`` and runs them on one thread with one kept connection:

- Everything queued while the thread was busy goes into one transaction with one COMMIT
  (group commit): the more commands overlap, the fewer commits each costs.
- No savepoints (two round trips each). When a function of a group raises, the group is
  rolled back and each of its functions runs again alone, in its own transaction: the one
  that fails gets its error, the others commit. A function must therefore only write
  through ``conn`` (rows; the audit log's per-transaction tail is forgotten on rollback).
- Statements whose results nobody reads (the run's UPDATE, audit INSERTs) are held back
  and sent with the next statement that needs an answer or with the COMMIT
  (store/pgwrite.py): ≈ 1.5 round trips a command instead of ≈ 5.
- A caller's ``await`` returns only after the COMMIT of its function's transaction, so what
  it wrote is durable when it goes on — the same promise as ``Database.begin()``.

The event loop meanwhile runs other commands' Python.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from opsroom.store import pgwrite
from opsroom.store.pgwrite import GuessMissed, HeldBackWriteError

log = logging.getLogger(__name__)

T = TypeVar("T")
_MAX_GROUP = 256  # functions per transaction at most

_Item = tuple[Callable[[Connection], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]", int]  # …, new runs
# A group's run ids, drawn in its first trip: the run rows need no trip of their own to learn
# their id (the audit rows hash it). Drawn in queue order, as the INSERTs would.
_RUN_IDS = "SELECT nextval(pg_get_serial_sequence('runs', 'id')) FROM generate_series(1, {n})"
# Run ids are drawn ahead for the next groups, in a trip this group makes anyway, so a group
# rarely needs a first trip for them: like a sequence's CACHE, each process holds a few
# (ids drawn and never used are gaps, as a rolled-back INSERT leaves).
_NEXT_IDS = "opsroom.runs.ids.next"
_IDS_AHEAD = 32


class WriteThread:
    """One writer thread and its queue; ``await run(fn)`` (see the module)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: list[_Item] = []
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        # What every group starts with, by who asks (the audit log: its lock and tail), asked
        # in the group's first trip or guessed (pgwrite.GroupStart); pgwrite.answer gives
        # their rows back.
        self.first: dict[str, pgwrite.GroupStart] = {}
        self._run_ids: list[int] = []  # drawn ahead, oldest first (only the thread uses it)

    async def run(self, fn: Callable[[Connection], T], new_runs: int = 0) -> T:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        with self._wake:
            if self._stopping:
                raise RuntimeError("the database is closed")
            self._queue.append((fn, loop, done, new_runs))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="opsroom-db-writer", daemon=True)
                self._thread.start()
            self._wake.notify()
        return await committed(done)

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- the thread ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stopping:
                    self._wake.wait()
                if not self._queue:  # stopping, nothing left
                    break
                group, self._queue = self._queue[:_MAX_GROUP], self._queue[_MAX_GROUP:]
            try:
                self._write(group)
            except BaseException as err:  # (not an Exception): never leave a caller waiting
                log.error("the database writer was interrupted: %r", err)
                for item in group:
                    _settle(item, None, RuntimeError(f"the database writer was interrupted: {err!r}"))
        self._close()

    def _write(self, group: list[_Item]) -> None:
        fns = [item[0] for item in group]
        try:
            new_runs = sum(item[3] for item in group)
            try:  # one trip when the group's start can be guessed (see _start)
                results = self._transaction(fns, hold=True, new_runs=new_runs, guess=True)
            except GuessMissed:  # someone else wrote meanwhile: nothing committed; ask
                results = self._transaction(fns, hold=True, new_runs=new_runs, guess=False)
        except Exception as err:
            if len(group) == 1 and not isinstance(err, HeldBackWriteError):
                _settle(group[0], None, err)
                return
            for item in group:  # find the one that fails; the others commit on their own
                try:  # nothing held back: each statement's error comes from that statement
                    result = self._transaction([item[0]], hold=False)[0]
                except Exception as alone:
                    _settle(item, None, alone)
                else:
                    _settle(item, result, None)
            return
        _settle_all(group, results)

    def _transaction(
        self, fns: list[Callable[[Connection], Any]], *, hold: bool, new_runs: int = 0, guess: bool = False
    ) -> list[Any]:
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            conn = self._conn = self.engine.connect()
        committed = False
        try:
            with conn.begin():
                if not hold:
                    return [fn(conn) for fn in fns]
                # Statements whose results nobody reads share trips (store/pgwrite.py).
                first, answers, guessed = self._start(new_runs, guess)
                pgwrite.hold(conn, first, answers)
                results = [fn(conn) for fn in fns]
                pgwrite.commit(conn)  # what is held back, then COMMIT: one trip
                committed = True
                for start in self.first.values():
                    start.committed(conn, guessed)
                return results
        except BaseException:
            for start in self.first.values():
                start.forget()
            if conn.invalidated:  # the connection broke: a fresh one for the next try
                self._close()
            raise
        finally:
            if hold and not conn.closed and not conn.invalidated:
                left = pgwrite.release(conn)  # (after the commit or rollback)
                if committed:  # ids drawn for the groups to come
                    self._run_ids.extend(int(row[0]) for row in left.get(_NEXT_IDS, ()))

    def _start(self, new_runs: int, guess: bool) -> tuple[list[pgwrite.Statement], dict[str, pgwrite.Rows], bool]:
        """A group's first statements, the answers known already, and whether they are guessed.

        Guessed (every asker has a guess and the run ids were drawn by earlier groups): the
        group needs no trip of its own before its functions run; its one trip carries the
        checks with the writes and the COMMIT. Otherwise the first trip asks (lock, tail, ids)."""
        first: list[pgwrite.Statement] = []
        answers: dict[str, pgwrite.Rows] = {}
        have_ids = len(self._run_ids) >= new_runs
        guesses = [start.guess() for start in self.first.values()] if guess and have_ids else [None]
        guessed = all(g is not None for g in guesses)
        if guessed:
            for statements, known in (g for g in guesses if g is not None):
                first.extend(statements)
                answers.update(known)
        else:
            first = [s for start in self.first.values() for s in start.ask]
        if new_runs and have_ids:  # in queue order: the oldest drawn first
            answers[pgwrite.RUN_IDS] = [(i,) for i in self._run_ids[:new_runs]]
            del self._run_ids[:new_runs]
        elif new_runs:  # (ids left over are dropped, so ids keep following the queue: a gap)
            self._run_ids.clear()
            first.append((_RUN_IDS.format(n=new_runs), (), pgwrite.RUN_IDS))
        want = max(_IDS_AHEAD, 2 * new_runs)
        if len(self._run_ids) < want // 2:  # the next groups' ids travel with this one
            first.append((_RUN_IDS.format(n=want - len(self._run_ids)), (), _NEXT_IDS))
        return first, answers, guessed

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # the connection is gone already
                log.debug("closing the writer's connection failed", exc_info=True)


async def committed(done: asyncio.Future[T]) -> T:
    """Wait for a shared commit. A cancellation meanwhile is held back until the commit is
    done and then passed on, as if the commit had been synchronous: the caller never stops
    between its rows being written and knowing that they are."""
    cancelled = False
    try:
        while True:
            try:
                return await asyncio.shield(done)
            except asyncio.CancelledError:
                cancelled = True
                if done.done():  # committed (or failed) just as the cancellation came
                    return done.result()
    finally:
        if cancelled:
            task = asyncio.current_task()
            if task is not None:
                task.cancel()


def _settle_all(group: list[_Item], results: list[Any]) -> None:
    """A committed group's callers, told with one wake-up of each event loop (a wake-up is a
    write to the loop's self-pipe and a turn of the loop: ≈ 9 per group otherwise)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for (_fn, loop, done, _runs), result in zip(group, results, strict=True):
        by_loop.setdefault(loop, []).append((done, result))

    def settle(settled: list[tuple[asyncio.Future[Any], Any]]) -> None:
        for done, result in settled:
            if not done.done():
                done.set_result(result)

    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(settle, settled)
        except RuntimeError:  # the loop is closed: nobody waits any more
            log.debug("a write finished after its event loop closed")


def _settle(item: _Item, result: Any, error: BaseException | None) -> None:
    _fn, loop, done, _runs = item

    def settle() -> None:
        if done.done():
            return
        if error is None:
            done.set_result(result)
        else:
            done.set_exception(error)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: nobody waits any more
        log.debug("a write finished after its event loop closed")
