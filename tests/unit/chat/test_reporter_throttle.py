"""The reporter's throttled progress edits: at most one per ``edit_interval``, the latest
state wins, and a run that ends first gets no late edit (only its final message)."""

from __future__ import annotations

import asyncio

from tests.support.chat import RecordingAdapter

from opsroom.chat.base import ChatHub
from opsroom.core import CommandSpec, Invocation, Principal, RunState
from opsroom.reporter import Reporter
from opsroom.runs.service import LiveRun, RunOutcome


def _setup(interval: float) -> tuple[Reporter, RecordingAdapter, Invocation]:
    adapter = RecordingAdapter()
    hub = ChatHub()
    hub.add(adapter)
    reporter = Reporter(hub, lambda *a, **k: "signed", edit_interval=interval)
    inv = Invocation(CommandSpec("ping"), {}, "ping", Principal("alice"), adapter.place())
    return reporter, adapter, inv


def _live(run_id: int, text: str) -> LiveRun:
    live = LiveRun(run_id, "ping", "alice")
    live.last_progress = text
    return live


async def test_progress_within_the_interval_is_edited_once_later_with_the_latest_state() -> None:
    reporter, adapter, inv = _setup(0.05)
    reporter.track(1, inv)
    await reporter.run_started(1)
    live = _live(1, "step 1")
    await reporter.run_progress(1, live)
    live.last_progress = "step 2"
    await reporter.run_progress(1, live)
    assert len(adapter.posts[0].versions) == 1  # nothing yet: throttled
    await asyncio.sleep(0.3)
    versions = adapter.posts[0].versions
    assert len(versions) == 2 and "step 2" in versions[-1].as_text()


async def test_a_run_that_ends_before_its_edit_is_due_gets_only_its_final_message() -> None:
    reporter, adapter, inv = _setup(0.05)
    reporter.track(2, inv)
    await reporter.run_started(2)
    await reporter.run_progress(2, _live(2, "step 1"))
    outcome = RunOutcome(2, RunState.SUCCEEDED, 0, 0.01, "", "", "", 0)
    await reporter.run_finished(2, outcome)
    await asyncio.sleep(0.1)
    versions = adapter.posts[0].versions
    assert len(versions) == 2 and versions[-1].tone == "success"
