"""Submitting a command that got through the pipeline: the run row and its audit rows in one
transaction (lock taken in the same insert), then the runner starts; and the audit of a
command that runs no run of its own (a built-in, a denial).

Invariant 1 of ARCHITECTURE.md lives here: a run is in the database before its runner starts.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from sqlalchemy.exc import IntegrityError

from opsroom import metrics
from opsroom.audit import AuditRecord
from opsroom.core import Decision, Invocation, Message, RunContext, RunState
from opsroom.engine import steps
from opsroom.engine.delivery import Delivery
from opsroom.runs import store as run_store

if TYPE_CHECKING:
    from opsroom.engine.core import Engine


def record_decision(
    engine: Engine, inv: Invocation, received: Mapping[str, Any], decision: Decision, delivery: Delivery | None = None
) -> None:
    """Audit a command that runs no run of its own (denied, or a built-in): what was
    typed and what policy said, with the deciding rule ids."""
    place = inv.place
    base: dict[str, Any] = {
        "actor": inv.principal.name,
        "platform": place.platform,
        "channel": place.name,
        "command": inv.command.name,
    }
    verdict = f"denied: {decision.reason}" if not decision.allowed else "allowed"
    with engine.db.begin() as conn:
        if delivery is not None:
            delivery.claim(conn)
        engine.audit.append_many(
            conn,
            [
                AuditRecord(
                    action="command.received", summary=engine._clean(inv.shown_text()), detail=dict(received), **base
                ),
                AuditRecord(
                    action="decision",
                    summary=verdict,
                    detail={"allowed": decision.allowed, "rules": list(decision.rule_ids)},
                    **base,
                ),
            ],
        )


async def submit(
    engine: Engine,
    inv: Invocation,
    decision: Decision,
    received: Mapping[str, Any],
    *,
    initial: RunState = RunState.QUEUED,
    lock_key: str | None = None,
    trail: Sequence[AuditRecord] = (),
    delivery: Delivery | None = None,
    shown_text: str | None = None,
) -> int | None:
    """Write the run (and its audit rows) before anything executes, then start it.
    ``delivery``'s marker commits in the same transaction (engine/delivery.py).
    ``shown_text``: ``engine._clean(inv.shown_text())`` when the caller has it already."""
    place = inv.place
    actor = inv.principal.name
    # The rows' shared fields, passed by position below (AuditRecord's field order: actor,
    # action, command, platform, channel, run_id, summary, detail): four rows a command.
    command, platform, channel = inv.command.name, place.platform, place.name
    base: dict[str, Any] = {"actor": actor, "platform": platform, "channel": channel, "command": command}
    if shown_text is None:
        shown_text = engine._clean(inv.shown_text())

    def received_record(run_id: int | None = None) -> AuditRecord:
        return AuditRecord(actor, "command.received", command, platform, channel, run_id, shown_text, dict(received))

    # With a free run slot the run is written straight as running; else it queues.
    reserved = initial == RunState.QUEUED and engine.defer is None and engine.runs.reserve()
    state = RunState.RUNNING if reserved else initial
    stored = engine.stored_args(inv)
    claimed = delivery is not None and delivery.claimed

    def write(conn: Any) -> tuple[int | None, str]:
        """The run row and its audit rows (or the lock refusal's rows). On PostgreSQL this
        runs on the writer thread (it touches nothing but ``conn``), and runs again alone
        when its group is rolled back: each try starts from the delivery as it was."""
        if delivery is not None:
            delivery.claimed = claimed
            delivery.claim(conn)  # first: a repeat writes nothing (raises Duplicate)
        holder = take_lock(conn, lock_key, actor) if lock_key else None
        if holder is not None and lock_key:
            refused = steps.lock_refusal(lock_key, holder)
            engine.audit.append_many(
                conn,
                [
                    received_record(),
                    AuditRecord(
                        action="lock.refused",
                        summary=refused,
                        detail={"lock": lock_key, "holder": holder.holder, "run_id": holder.run_id},
                        **base,
                    ),
                ],
            )
            return None, refused
        # SQLite: the run row records the ids its rows below will most likely get (received,
        # the trail, decision, the state's row); the append checks (store/run_audit.py).
        first = engine.audit.next_id_guess()
        covered = None if first is None else (first, first + 2 + len(trail))
        run_id = run_store.insert_run(
            conn,
            inv,
            state,
            lock_key=lock_key,
            timeout=inv.command.timeout,
            stored_args=stored,
            started=reserved,
            shown_text=shown_text,
            audit_range=covered,
        )
        if lock_key:
            run_store.set_lock_run(conn, lock_key, run_id)
        rows = [received_record(run_id)]
        if trail:
            rows.extend(dataclasses.replace(row, run_id=run_id) for row in trail)
        rows.append(
            AuditRecord(
                actor,
                "decision",
                command,
                platform,
                channel,
                run_id,
                f"allowed: {decision.reason}",
                {"allowed": True, "rules": list(decision.rule_ids)},
            )
        )
        rows.append(
            AuditRecord(
                actor,
                "run.started" if reserved else f"run.{state.value}",
                command,
                platform,
                channel,
                run_id,
                f"run #{run_id} {'started' if reserved else state.value}",
                {"args": stored, "lock": lock_key},
            )
        )
        engine.audit.append_many(conn, rows, covered=None if covered is None else (run_id, *covered))
        return run_id, ""

    # Shared with other commands' writes (committed once for all); returns when the run
    # row is durable, before anything starts.
    try:
        run_id, refusal = await engine.db.run_write(write, new_runs=1)
    except BaseException:
        if reserved:  # the run was not written: give its slot back
            engine.runs.unreserve()
        raise
    if refusal:
        if reserved:
            engine.runs.unreserve()
        metrics.COMMANDS.labels(inv.command.name, "locked").inc()
        await engine.reply(place, Message.plain(refusal, "warning"))
        return None
    if initial == RunState.QUEUED and run_id is not None:
        if engine.defer is not None and await engine.defer(run_id, inv):
            return run_id  # a worker of any replica claims and runs it
        start_run(engine, run_id, inv, reserved=reserved)
    return run_id


def take_lock(conn: Any, key: str, holder: str) -> run_store.LockHolder | None:
    """Take ``key`` for ``holder``; returns who holds it when it is taken already. The
    insert itself decides (a savepoint catches the clash), so two replicas racing for one
    lock cannot both win."""
    try:
        with conn.begin_nested():
            run_store.take_lock(conn, key, None, holder)
        return None
    except IntegrityError:
        return run_store.lock_holder(conn, key) or run_store.LockHolder(key, None, "someone", run_store.utcnow())


def start_run(engine: Engine, run_id: int, inv: Invocation, *, reserved: bool = False) -> None:
    spec = inv.command
    runner = engine.parts.runners[spec.name]
    ctx = RunContext(
        run_id=run_id,
        command=spec.name,
        args=dict(inv.args),
        user=inv.principal.name,
        channel=inv.place.name,
        timeout=spec.timeout,
        dry_run=bool(inv.flags.get("dry_run")),
        options=dict(spec.runner.options) if spec.runner else {},
        extras=engine.parts.extras,
        on_process=engine.runs.process_recorder(run_id),
    )
    engine.reporter.track(run_id, inv)
    engine.runs.start(
        run_id,
        runner,
        ctx,
        engine.reporter,
        lock_key=engine.lock_key(inv),
        output_max_chars=spec.output_max_chars,
        audit_fields={"platform": inv.place.platform, "channel": inv.place.name, "command": spec.name},
        reserved=reserved,
    )
