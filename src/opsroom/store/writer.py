"""PostgreSQL's hot-path writes on a thread of their own, committed in groups.

On PostgreSQL every statement is a round trip to the server (0.1–2 ms on a busy machine).
Made on the event loop, as ``Database.write()`` blocks are, those round trips stop every
other command meanwhile: the blocking driver took 40 % of the loop's time. ``WriteThread``
takes the per-command writes (a run row and its audit rows; a run's start and end) as
functions ``fn(conn) -> result`` and runs them on writer threads ("lanes", two), each with
one kept connection:

- Everything queued while the thread was busy goes into one transaction with one COMMIT
  (group commit): the more commands overlap, the fewer commits each costs.
- No savepoints (two round trips each). When a function of a group raises, the group is
  rolled back and each of its functions runs again alone, in its own transaction: the one
  that fails gets its error, the others commit. A function must therefore only write
  through ``conn`` (rows; the audit log's per-transaction tail is forgotten on rollback).
- Statements whose results nobody reads (the run's UPDATE, audit INSERTs) are held back
  and sent with the next statement that needs an answer or with the COMMIT
  (store/pgwrite.py): ≈ 1.5 round trips a command instead of ≈ 5.
- A group without new runs needs one trip: what it would ask first (the audit chain's lock
  and tail) is guessed from the previous group and checked on the server in that trip
  (``GroupStart``; a wrong guess aborts before the COMMIT and the group runs again, asking).
  A group with new runs asks their ids in a first trip (``_RUN_IDS``, with the lock and
  tail): run numbers are what people type and read (`/approve 2`), so they are drawn when
  needed, never ahead (ids held ahead were skipped at each restart and interleaved between
  replicas: run #66 after run #1). A group whose guess missed keeps the ids it drew.
- Two lanes take groups in turn (``_turn``): one lane takes a group and runs its functions
  while the other's last trip waits for its COMMIT's fsync; its own trip's lock then waits
  for that COMMIT. Groups still commit one after the other; their Python and their trips
  no longer wait for the previous group's fsync.
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
# Two lanes (threads, each with a kept connection): while one group's last trip waits for
# its COMMIT's fsync, the other lane runs the next group's functions and sends its trip,
# whose lock waits for that COMMIT. Groups still commit one after the other (the audit
# chain's lock), but their Python and trips no longer wait for the previous fsync.
_LANES = 2


class _Lane:
    """One writer thread and its kept connection."""

    __slots__ = ("conn", "has_turn", "thread", "taken")

    def __init__(self) -> None:
        self.conn: Connection | None = None
        self.has_turn = False
        self.thread: threading.Thread | None = None
        self.taken: list[int] = []  # run ids the lane's group drew (kept when its guess missed)


class WriteThread:
    """The writer threads and their queue; ``await run(fn)`` (see the module)."""

    def __init__(self, engine: Engine, lanes: int = _LANES) -> None:
        self.engine = engine
        self._queue: list[_Item] = []
        self._wake = threading.Condition()
        self._stopping = False
        self._lanes = [_Lane() for _ in range(lanes)]
        # Held by the lane that takes a group and runs its functions, until its last trip is
        # under way: groups are taken, guessed and sent in queue order.
        self._turn = threading.Lock()
        # What every group starts with, by who asks (the audit log: its lock and tail), asked
        # in the group's first trip or guessed (pgwrite.GroupStart); pgwrite.answer gives
        # their rows back.
        self.first: dict[str, pgwrite.GroupStart] = {}

    async def run(self, fn: Callable[[Connection], T], new_runs: int = 0) -> T:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = CommitFuture(loop=loop)
        with self._wake:
            if self._stopping:
                raise RuntimeError("the database is closed")
            self._queue.append((fn, loop, done, new_runs))
            for lane in self._lanes:
                if lane.thread is None:
                    lane.thread = threading.Thread(
                        target=self._loop, args=(lane,), name="opsroom-db-writer", daemon=True
                    )
                    lane.thread.start()
            self._wake.notify()
        return await committed(done)

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the threads."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
            threads = [lane.thread for lane in self._lanes]
        for thread in threads:
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)

    # -- the threads --------------------------------------------------------------------------
    def _loop(self, lane: _Lane) -> None:
        while True:
            self._turn.acquire()
            lane.has_turn = True
            try:
                with self._wake:
                    while not self._queue and not self._stopping:
                        self._wake.wait()
                    if not self._queue:  # stopping, nothing left
                        break
                    group, self._queue = self._queue[:_MAX_GROUP], self._queue[_MAX_GROUP:]
                try:
                    self._write(group, lane)
                except BaseException as err:  # (not an Exception): never leave a caller waiting
                    log.error("the database writer was interrupted: %r", err)
                    for item in group:
                        _settle(item, None, RuntimeError(f"the database writer was interrupted: {err!r}"))
            finally:
                self._hand_on(lane)
        self._close(lane)

    def _hand_on(self, lane: _Lane) -> None:
        """Let the other lane take the next group (this one's last trip is under way)."""
        if lane.has_turn:
            lane.has_turn = False
            self._turn.release()

    def _write(self, group: list[_Item], lane: _Lane) -> None:
        fns = [item[0] for item in group]
        try:
            new_runs = sum(item[3] for item in group)
            try:  # one trip when the group's start can be guessed (see _start)
                results = self._transaction(fns, lane, hold=True, new_runs=new_runs, guess=True)
            except GuessMissed:  # someone else wrote meanwhile: nothing committed; ask, with
                # the same run ids (none was used: taking new ones left a gap in run numbers)
                results = self._transaction(fns, lane, hold=True, new_runs=new_runs, guess=False, reuse=lane.taken)
        except Exception as err:
            self._hand_on(lane)
            if len(group) == 1 and not isinstance(err, HeldBackWriteError):
                _settle(group[0], None, err)
                return
            for item in group:  # find the one that fails; the others commit on their own
                try:  # nothing held back: each statement's error comes from that statement
                    result = self._transaction([item[0]], lane, hold=False)[0]
                except Exception as alone:
                    _settle(item, None, alone)
                else:
                    _settle(item, result, None)
            return
        _settle_all(group, results)

    def _transaction(
        self,
        fns: list[Callable[[Connection], Any]],
        lane: _Lane,
        *,
        hold: bool,
        new_runs: int = 0,
        guess: bool = False,
        reuse: list[int] | None = None,
    ) -> list[Any]:
        conn = lane.conn
        if conn is None or conn.closed or conn.invalidated:
            conn = lane.conn = self.engine.connect()
        try:
            with conn.begin():
                if not hold:
                    return [fn(conn) for fn in fns]
                # Statements whose results nobody reads share trips (store/pgwrite.py).
                first, answers, guessed = self._start(new_runs, guess, reuse)
                lane.taken = [int(row[0]) for row in answers.get(pgwrite.RUN_IDS, ())]
                pgwrite.hold(conn, first, answers)
                results = [fn(conn) for fn in fns]
                for start in self.first.values():  # the next group may guess from this one
                    start.prepared(conn, guessed)
                self._hand_on(lane)
                pgwrite.commit(conn)  # what is held back, then COMMIT: one trip
                return results
        except BaseException:
            for start in self.first.values():
                start.forget()
            if conn.invalidated:  # the connection broke: a fresh one for the next try
                self._close(lane)
            raise
        finally:
            if hold and not conn.closed and not conn.invalidated:
                pgwrite.release(conn)  # (after the commit or rollback)

    def _start(
        self, new_runs: int, guess: bool, reuse: list[int] | None = None
    ) -> tuple[list[pgwrite.Statement], dict[str, pgwrite.Rows], bool]:
        """A group's first statements, the answers known already, and whether they are guessed.

        Guessed (every asker has a guess and the group adds no run, or reuses the ids it drew
        before its guess missed): the group needs no trip of its own before its functions run;
        its one trip carries the checks with the writes and the COMMIT. Otherwise the first
        trip asks (lock, tail, run ids)."""
        first: list[pgwrite.Statement] = []
        answers: dict[str, pgwrite.Rows] = {}
        have_ids = not new_runs
        if new_runs and reuse is not None and len(reuse) == new_runs:  # this group's, again
            answers[pgwrite.RUN_IDS] = [(i,) for i in reuse]
            have_ids = True
        guesses = [start.guess() for start in self.first.values()] if guess and have_ids else [None]
        guessed = all(g is not None for g in guesses)
        if guessed:
            for statements, known in (g for g in guesses if g is not None):
                first.extend(statements)
                answers.update(known)
        else:
            first = [s for start in self.first.values() for s in start.ask]
        if not have_ids:
            first.append((_RUN_IDS.format(n=new_runs), (), pgwrite.RUN_IDS))
        return first, answers, guessed

    def connections(self) -> list[Connection]:
        """The lanes' kept connections (for tests)."""
        return [lane.conn for lane in self._lanes if lane.conn is not None]

    def _close(self, lane: _Lane) -> None:
        conn, lane.conn = lane.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # the connection is gone already
                log.debug("closing the writer's connection failed", exc_info=True)


class CommitFuture(asyncio.Future[T]):
    """The future a write's caller waits on for its commit; cancelling it is refused.

    A task cancelled while awaiting a future first asks that future to cancel; refused, the
    task holds the cancellation and throws it in once the future is done (asyncio's Task
    does so). So ``committed`` can await it directly: no ``asyncio.shield`` (an extra
    future, two callbacks and an extra loop turn per write) and the shared future, awaited
    by every writer of the group, is never cancelled by one of them."""

    __slots__ = ()

    def cancel(self, msg: Any = None) -> bool:
        return False


async def committed(done: asyncio.Future[T]) -> T:
    """Wait for a shared commit. A cancellation meanwhile is held back until the commit is
    done and then passed on, as if the commit had been synchronous: the caller never stops
    between its rows being written and knowing that they are."""
    cancelled = False
    try:
        while True:
            try:
                # Ours cannot be cancelled (see there); any other future is shielded.
                waited: asyncio.Future[T] = done if done.__class__ is CommitFuture else asyncio.shield(done)
                return await waited
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
