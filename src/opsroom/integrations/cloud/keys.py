"""Rotating an access key as a routine job, in the order that leaves something working at
every step:

1. the user has exactly one key (the provider allows two; a second one means a rotation is
   half done, or a deletion is still pending — say which and stop);
2. create the new key;
3. verify it authenticates — on failure delete it: the old key was never touched;
4. store it in the secret store — on failure delete it: the old key was never touched;
5. schedule the old key's deletion (persisted, audited), then deactivate the old key — if
   that fails the schedule is cancelled and the old key stays active;
6. the sweeper (schedule.py) deletes the old key after the grace period.

The new secret lives only in this function's locals and in the secret store: no output
line, result or error carries it (``_scrub`` makes sure of that for provider errors too),
and the run's output also passes the redactor.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from datetime import timedelta

from opsroom.core import OutputChunk, RunContext
from opsroom.integrations.cloud.base import CloudError, CloudProvider
from opsroom.integrations.cloud.schedule import KeyDeletions, short


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "[REDACTED]") if secret else text


async def rotate_access_key(
    p: CloudProvider,
    env: str,
    user: str,
    ctx: RunContext,
    deletions: KeyDeletions | None,
    *,
    allowed: Collection[str],
    grace: timedelta,
) -> AsyncIterator[OutputChunk]:
    if user not in allowed:
        raise CloudError(
            f"opsroom may not rotate the keys of {user!r} in {env} "
            f"(key_rotation.users: {', '.join(sorted(allowed)) or 'none'})"
        )
    keys = await p.access_keys(user)
    pending = {s.key_id for s in deletions.pending()} if deletions is not None else set()
    if len(keys) != 1:
        if not keys:
            raise CloudError(f"{user} has no access key to rotate")
        listed = ", ".join(
            f"{short(k.key_id)} {k.status.lower()}" + (" (deletion scheduled)" if k.key_id in pending else "")
            for k in keys
        )
        raise CloudError(
            f"{user} has {len(keys)} keys ({listed}); a rotation needs exactly one — "
            "delete the unused one or wait for its scheduled deletion"
        )
    old = keys[0]
    if old.status.lower() != "active":
        raise CloudError(f"{user}'s only key {short(old.key_id)} is {old.status.lower()}; nothing in use to rotate")
    plan = (
        f"rotate {user}'s key {short(old.key_id)} in {env}: create, verify, store, deactivate the old key, "
        f"delete it after {_days(grace)}"
    )
    if ctx.dry_run:
        yield OutputChunk(text=f"dry run: would {plan}\n", exit_code=0, result=f"plan: {plan}")
        return
    assert deletions is not None
    new_id, secret = await p.create_access_key(user)
    try:
        yield OutputChunk(text=f"created new key {short(new_id)} for {user}", stream="progress")
        try:
            await p.verify_key(new_id, secret)
            yield OutputChunk(text=f"new key {short(new_id)} authenticates", stream="progress")
            where = await p.store_key(user, new_id, secret)
        except asyncio.CancelledError:  # cancelled or timed out before the key was stored
            await _undo_new_key(p, user, new_id)
            raise
        except CloudError as err:
            await _undo_new_key(p, user, new_id)
            raise CloudError(
                f"{_scrub(str(err), secret)} — the new key {short(new_id)} was deleted; "
                f"the old key {short(old.key_id)} is still active"
            ) from None
    finally:
        secret = ""  # noqa: F841 — drop the only reference to the value as soon as it is stored
    yield OutputChunk(text=f"new key {short(new_id)} stored in {where}", stream="progress")
    scheduled = deletions.schedule(
        provider=p.name,
        environment=env,
        user=user,
        key_id=old.key_id,
        new_key_id=new_id,
        grace=grace,
        run_id=ctx.run_id,
        requested_by=ctx.user,
    )
    try:
        await p.set_key_status(user, old.key_id, active=False)
    except CloudError as err:
        deletions.cancel(scheduled, f"deactivating it failed: {err}", actor=ctx.user)
        raise CloudError(
            f"{err} — the new key {short(new_id)} is stored and works; the old key "
            f"{short(old.key_id)} is still active and will not be deleted"
        ) from None
    yield OutputChunk(
        text=f"old key {short(old.key_id)} deactivated; opsroom deletes it at {scheduled.due_at:%Y-%m-%d %H:%M} UTC\n",
        exit_code=0,
        result=f"{user}: new key {short(new_id)} in {where}; old key {short(old.key_id)} inactive, "
        f"deletion #{scheduled.id} at {scheduled.due_at:%Y-%m-%d %H:%M} UTC",
    )


async def _undo_new_key(p: CloudProvider, user: str, new_id: str) -> None:
    try:
        await p.delete_access_key(user, new_id)
    except CloudError as err:
        raise CloudError(
            f"and deleting the new key {short(new_id)} failed too ({err}); "
            "delete it by hand — the old key is still active"
        ) from None


def _days(grace: timedelta) -> str:
    seconds = int(grace.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds}s"
